# Sourced by the kit's run.sh and study.sh: editing the smoke study's params files in place.

# setp FILE SECTION KEY VALUE: sets `KEY = VALUE` in `[SECTION]` of a params file.
setp() {
    awk -v sec="[$2]" -v key="$3" -v val="$4" '
        $0 == sec { insec = 1; print; next }
        /^\[/ { if (insec && !done) { print key " = " val; done = 1 } insec = 0 }
        insec && $1 == key && $2 == "=" { print key " = " val; done = 1; next }
        { print }
        END { if (!done) { if (!insec) print sec; print key " = " val } }' "$1" > "$1.tmp"
    mv "$1.tmp" "$1"
}

# set_short FILE: the kit's tiny sizes (short.txt, one `section.key=value` a line).
set_short() {
    local kv k
    grep -v '^#' "$kit/short.txt" | while IFS= read -r kv; do
        k=${kv%%=*}
        setp "$1" "${k%%.*}" "${k#*.}" "${kv#*=}"
    done
}
