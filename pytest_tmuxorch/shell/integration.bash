# pytest-tmuxorch's shell integration for bash.  The pane starts `bash --norc --noprofile -i`
# with PROMPT_COMMAND set to source this file, so no rc file of the user or the system is read.
#
# It marks every prompt and command with OSC 133 escape sequences, as terminals with shell
# integration expect them: A prompt start, B prompt end (the shell reads input), C command start
# (its output follows), D;<status> command end.  The prompt also sets the pane title to
# "tmuxorch;<prompts drawn>;<last status>" (the command start to "tmuxorch;run", its end to
# "tmuxorch;end" until the prompt is drawn: other PROMPT_COMMAND hooks may run between), so a client
# that can only poll knows the state too.  $? is kept for the next command.  Nothing is exported: a shell started
# from this one is a plain shell.
HISTFILE=/dev/null
PS1='\[\e]2;tmuxorch;${__tmuxorch_prompts};$?\a\e]133;A\a\]$ \[\e]133;B\a\]'
PS2='> '
PS0='\e]2;tmuxorch;run\a\e]133;C\a'
__tmuxorch_prompts=0
__tmuxorch_prompt() {
    local status=$?
    __tmuxorch_prompts=$((__tmuxorch_prompts + 1))
    # Then start the prompt on a line of its own: a line's width of spaces and a carriage return
    # move to the next line only when the output did not end with a newline (readline draws its
    # line wrongly when the prompt does not start in the first column); the spaces are erased.
    printf '\033]2;tmuxorch;end\007\033]133;D;%s\007%*s\r\033[K' "$status" "${COLUMNS:-80}" ''
    return $status
}
PROMPT_COMMAND=__tmuxorch_prompt
export -n PROMPT_COMMAND PS1 PS2 PS0 HISTFILE
__tmuxorch_prompt
