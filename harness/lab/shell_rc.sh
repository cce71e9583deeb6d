# bash start-up file of `harness shell`: a prompt naming lab and host, and a transcript of
# every command typed (TIME<TAB>STAGE<TAB>EXIT<TAB>COMMAND, see harness/lab/transcript.py).
[ -r ~/.bashrc ] && [ -z "$HARNESS_NO_BASHRC" ] && . ~/.bashrc
PS1="($HARNESS_LAB) root@$HARNESS_HOST:\W# "
HISTFILE="$HARNESS_HISTFILE"
HISTCONTROL=
HISTTIMEFORMAT=
history -r

__harness_number() {
    local line
    line=$(builtin history 1)
    [[ $line =~ ^\ *([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

__harness_last=$(__harness_number)

__harness_record() {
    local status=$? line number command stage=""
    line=$(builtin history 1)
    [[ $line =~ ^\ *([0-9]+)\*?\ +(.*)$ ]] || return $status
    number=${BASH_REMATCH[1]}
    command=${BASH_REMATCH[2]}
    if [[ $number != "$__harness_last" ]]; then
        __harness_last=$number
        [ -r "$HARNESS_STAGE_FILE" ] && read -r stage < "$HARNESS_STAGE_FILE"
        command=${command//$'\t'/ }
        command=${command//$'\n'/ }
        printf '%s\t%s\t%s\t%s\n' "$EPOCHREALTIME" "$stage" "$status" "$command" \
            >> "$HARNESS_TRANSCRIPT"
        history -a
    fi
    return $status
}

PROMPT_COMMAND=__harness_record
