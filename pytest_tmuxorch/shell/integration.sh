# pytest-tmuxorch's shell integration for POSIX sh (dash, ash...), read through $ENV.
#
# sh has no hook before a command runs, so only the prompt carries the marks: D;<status> (the
# previous command's end), the state in the pane title ("tmuxorch;<prompts drawn>;<status>"),
# A (prompt start) and B (prompt end).  A command's output starts after the line typed at the
# prompt.  $? is kept for the next command.  ENV is unset: a shell started from this one is plain.
unset ENV
HISTFILE=/dev/null
__tmuxorch_esc=$(printf '\033')
__tmuxorch_bel=$(printf '\007')
__tmuxorch_prompts=0
PS1="${__tmuxorch_esc}]133;D;\$?${__tmuxorch_bel}${__tmuxorch_esc}]2;tmuxorch;\$((__tmuxorch_prompts+=1));\$?${__tmuxorch_bel}${__tmuxorch_esc}]133;A${__tmuxorch_bel}\$ ${__tmuxorch_esc}]133;B${__tmuxorch_bel}"
PS2='> '
