#!/bin/bash
# The conventions the four tools share (tools/tool-cli.h), through the real
# binaries: --version; every command of --help in the generated man page and
# the bash completion; the bash completion completes commands and flags
# (complete -p, compgen); the zsh completion loads; a typo gets the nearest
# command or option, exit 1 and one line on stderr; the shared exit codes
# (a missing config 9, an unknown product 1).
#   test-tool-conventions.sh BUILDDIR TOOL...   (the tools built here)
set -u
build=$1
shift
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bin() {
  case $1 in
    tessera) echo "$build/tools/tessera" ;;
    tessera-server) echo "$build/server/tessera-server" ;;
    *) echo "$build/tools/$1" ;;
  esac
}

for tool in "$@"; do
  exe=$(bin "$tool")
  man="$build/tools/man/$tool.1"
  bashc="$build/tools/completions/bash/$tool"
  zshc="$build/tools/completions/zsh/_$tool"
  fn=_${tool//-/_}

  out=$("$exe" --version) || fail "$tool --version exits $?"
  [[ $out =~ ^$tool\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "$tool --version says '$out'"

  help=$("$exe" --help) || fail "$tool --help exits $?"
  [ "$(grep -c '^Exit status' <<<"$help")" = 1 ] || fail "$tool --help: not one exit table"
  grep -q '^  130  interrupted' <<<"$help" || fail "$tool --help: no code 130"

  # The generated man page renders cleanly and has the exit table.
  err=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww "$man" 2>&1 >/dev/null)
  [ -z "$err" ] || fail "$tool man page: groff says: $err"
  grep -q '^\.SH EXIT STATUS' "$man" || fail "$tool man page: no EXIT STATUS"
  grep -q '^\.B 12$' "$man" || fail "$tool man page: the shared table is missing"

  # Every command --help lists: in the man page, its own --help, the
  # completion; its --help does not repeat the exit table.
  commands=$(sed -n '/^Commands:/,/^$/p' <<<"$help" | sed -n 's/^  \([a-z][a-z-]*\( [a-z][a-z-]*\)\?\)  .*/\1/p')
  [ "$tool" = tessera-server ] || [ -n "$commands" ] || fail "$tool: no commands in --help"
  while IFS= read -r cmd; do
    [ -n "$cmd" ] || continue
    grep -qxF ".SS ${tool//-/\\-} ${cmd//-/\\-}" "$man" || fail "$tool man page lacks '$cmd'"
    # shellcheck disable=SC2086
    chelp=$("$exe" $cmd --help) || fail "$tool $cmd --help exits $?"
    grep -q "^  $tool $cmd \[OPTION" <<<"$chelp" || fail "$tool $cmd --help: no usage line"
    ! grep -q '^  130' <<<"$chelp" || fail "$tool $cmd --help repeats the exit table"
    grep -q "\"$cmd\")" "$bashc" || fail "$tool bash completion lacks '$cmd'"
    # Its first option, in the man page and the completion.
    opt=$(grep -o -m1 '^  \(-., \|    \)--[a-z-]*' <<<"$chelp" | sed 's/.*--/--/')
    if [ -n "$opt" ]; then
      words=($tool $cmd "${opt:0:4}")
      got=$(bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '"$fn"'; printf "%s\n" "${COMPREPLY[@]}"' _ "$bashc" "${words[@]}")
      grep -qx -- "$opt" <<<"$got" || fail "$tool $cmd ${opt:0:4}<TAB> does not offer $opt (got: $got)"
    fi
  done <<<"$commands"

  # bash: registered, and the first word completes to a command.
  bash -c "source '$bashc'; complete -p $tool" | grep -q -- "-F $fn $tool" \
    || fail "$tool: complete -p does not show $fn"
  if [ -n "$commands" ]; then
    first=$(head -1 <<<"$commands" | cut -d' ' -f1)
    got=$(bash -c 'source "$1"; COMP_WORDS=("$2" "$3"); COMP_CWORD=1; '"$fn"'; printf "%s\n" "${COMPREPLY[@]}"' _ "$bashc" "$tool" "${first:0:3}")
    grep -qx -- "$first" <<<"$got" || fail "$tool ${first:0:3}<TAB> does not offer $first (got: $got)"
  else
    got=$(bash -c 'source "$1"; COMP_WORDS=("$2" "--li"); COMP_CWORD=1; '"$fn"'; printf "%s\n" "${COMPREPLY[@]}"' _ "$bashc" "$tool")
    grep -qx -- "--listen" <<<"$got" || fail "$tool --li<TAB> does not offer --listen (got: $got)"
  fi

  # zsh: the file loads in a clean shell with compinit.
  if command -v zsh >/dev/null; then
    err=$(zsh -fc "autoload -U compinit; compinit -u -d '$tmp/zcompdump'; source '$zshc'" 2>&1) \
      || fail "$tool zsh completion does not load: $err"
    [ -z "$err" ] || fail "$tool zsh completion: $err"
  else
    fail "zsh is not installed (scripts/install-deps.sh)"
  fi

  # A mistyped option: the nearest one, exit 1, one line on stderr.
  if [ "$tool" = tessera-server ]; then
    "$exe" --lisen x >"$tmp/out" 2>"$tmp/err"
    rc=$?
    want="unknown option '--lisen': did you mean '--listen'?"
  else
    cmd=$(head -1 <<<"$commands")
    "$exe" --helpp >"$tmp/out" 2>"$tmp/err"
    rc=$?
    want="unknown option '--helpp': did you mean '--help'?"
  fi
  [ "$rc" = 1 ] || fail "$tool typo option: exit $rc"
  [ "$(wc -l <"$tmp/err")" = 1 ] || fail "$tool typo option: not one line: $(cat "$tmp/err")"
  grep -qF "$want" "$tmp/err" || fail "$tool typo option says: $(cat "$tmp/err")"
done

# Mistyped commands, one per tool.
check_typo() {
  local want=$1
  shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" = 1 ] || fail "$* exits $rc"
  [ "$(wc -l <"$tmp/err")" = 1 ] || fail "$*: not one line on stderr: $(cat "$tmp/err")"
  grep -qxF "$want" "$tmp/err" || fail "$*: says '$(cat "$tmp/err")', not '$want'"
}
for tool in "$@"; do
  exe=$(bin "$tool")
  case $tool in
    tessera)
      check_typo "tessera: unknown command 'activte': did you mean 'activate'?" "$exe" activte
      check_typo "tessera: unknown command 'ofline install': did you mean 'offline install'?" \
        "$exe" ofline install x.lic
      check_typo "tessera activate: unknown option '--prodcut': did you mean '--product'?" \
        "$exe" activate --prodcut KRE
      ;;
    tessera-admin)
      check_typo "tessera-admin: unknown command 'pool craete': did you mean 'pool create'?" \
        "$exe" pool craete
      check_typo "tessera-admin: pool create: unknown option '--prodcut': did you mean '--product'?" \
        "$exe" pool create --prodcut KRE
      ;;
    tessera-license)
      check_typo "tessera-license: unknown command 'isue': did you mean 'issue'?" "$exe" isue
      ;;
  esac
done

# The shared exit codes where tessera used to differ.
if [[ " $* " == *" tessera "* ]]; then
  t=$(bin tessera)
  HOME=$tmp "$t" --config "$tmp/missing.conf" status >/dev/null 2>"$tmp/err"
  rc=$?
  [ "$rc" = 9 ] || fail "a missing config exits $rc, not 9: $(cat "$tmp/err")"
  "$(bin tessera-license)" keygen --secret "$tmp/k.sec" --public "$tmp/k.pub" >/dev/null \
    || fail "tessera-license keygen"
  printf "[engine]\nproviders=offline\nproducts=KRE;KSE\n[provider:offline]\nlicense-dir=%s\ntrusted-keys=%s\n" \
    "$tmp/lic" "$tmp/k.pub" >"$tmp/t.conf"
  mkdir -p "$tmp/lic"
  HOME=$tmp "$t" --config "$tmp/t.conf" validate --product KRX >/dev/null 2>"$tmp/err"
  rc=$?
  [ "$rc" = 1 ] || fail "a product typo exits $rc, not 1: $(cat "$tmp/err")"
  grep -qF "did you mean 'KRE'?" "$tmp/err" || fail "a product typo says: $(cat "$tmp/err")"
fi

if [ "$fails" -gt 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "all conventions hold for: $*"
