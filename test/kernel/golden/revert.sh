# ---- script 4 of 5: check deploy lock, switch current back to RELEASE1, mark RELEASE2 failed, append revisions.log, journal reverted
set -e
FAP_STEP='start'
trap 'rc=$?; if [ $rc -ne 0 ]; then printf "\n%s%s\n" "${FAP_FM-::fap-failed-step::}" "$FAP_STEP" >&2; fi' EXIT
FAP_STEP='check deploy lock'
if ! grep -qF '"token":"TOKEN1"' /srv/shop/h1/.fap/lock/owner 2>/dev/null; then echo 'this run no longer holds the deploy lock on /srv/shop/h1 (removed with fap unlock, or taken over)' >&2; exit 1; fi
fap_att() { fap_a=0; case "$1" in TOKEN1.*.*) fap_a="${1#TOKEN1.}"; fap_a="${fap_a%%.*}" ;; esac; case "$fap_a" in ''|*[!0-9]*) fap_a=0 ;; esac; }
fap_prev_fence="$(cat /srv/shop/h1/.fap/lock/fence 2>/dev/null || true)"
fap_att "$fap_prev_fence"
if [ "$fap_a" -gt 1 ]; then echo 'superseded by a newer attempt of this run; stopping' >&2; exit 1; fi
fap_fence=TOKEN1.1.$$
printf '%s
' "$fap_fence" > /srv/shop/h1/.fap/lock/fence.$$ && mv -f /srv/shop/h1/.fap/lock/fence.$$ /srv/shop/h1/.fap/lock/fence
fap_alive() { grep -qa fap-session "/proc/$1/cmdline" 2>/dev/null; }
fap_reap() {
  fap_alive "$1" || return 0
  kill -TERM "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || true
  fap_n=0
  while fap_alive "$1"; do
    fap_n=$((fap_n + 1))
    if [ "$fap_n" -eq $(($2 * 10)) ]; then kill -KILL "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null || true; fi
    if [ "$fap_n" -gt $(($2 * 10 + 50)) ]; then echo "a superseded session of this run (pid $1) cannot be stopped" >&2; return 1; fi
    sleep 0.1 2>/dev/null || sleep 1
  done
}
case "$fap_prev_fence" in TOKEN1.*) fap_old="${fap_prev_fence##*.}" ;; *) fap_old='' ;; esac
if [ -n "$fap_old" ] && [ "$fap_old" != "$$" ]; then fap_reap "$fap_old" 10; fi
fap_now="$(cat /srv/shop/h1/.fap/lock/fence 2>/dev/null || true)"
if [ "$fap_now" != "$fap_fence" ]; then
  fap_att "$fap_now"
  if [ "$fap_a" -gt 1 ]; then echo 'superseded by a newer attempt of this run; stopping' >&2; exit 1; fi
  fap_prev_fence="$fap_now"
  fap_alive() { grep -qa fap-session "/proc/$1/cmdline" 2>/dev/null; }
  fap_reap() {
    fap_alive "$1" || return 0
    kill -TERM "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || true
    fap_n=0
    while fap_alive "$1"; do
      fap_n=$((fap_n + 1))
      if [ "$fap_n" -eq $(($2 * 10)) ]; then kill -KILL "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null || true; fi
      if [ "$fap_n" -gt $(($2 * 10 + 50)) ]; then echo "a superseded session of this run (pid $1) cannot be stopped" >&2; return 1; fi
      sleep 0.1 2>/dev/null || sleep 1
    done
  }
  case "$fap_prev_fence" in TOKEN1.*) fap_old="${fap_prev_fence##*.}" ;; *) fap_old='' ;; esac
  if [ -n "$fap_old" ] && [ "$fap_old" != "$$" ]; then fap_reap "$fap_old" 10; fi
  printf '%s
' "$fap_fence" > /srv/shop/h1/.fap/lock/fence.$$ && mv -f /srv/shop/h1/.fap/lock/fence.$$ /srv/shop/h1/.fap/lock/fence
fi
FAP_STEP='switch current back to RELEASE1'
if [ -n "${fap_fence:-}" ] && [ "$(cat /srv/shop/h1/.fap/lock/fence 2>/dev/null)" != "$fap_fence" ]; then if [ -e /srv/shop/h1/.fap/lock/fence ]; then echo 'superseded by a newer attempt of this run; stopping' >&2; else echo 'this run no longer holds the deploy lock (removed with fap unlock, or taken over); stopping' >&2; fi; exit 1; fi
if ! { [ -f /srv/shop/h1/releases/RELEASE1/REVISION ]; }; then echo 'release RELEASE1 is missing or incomplete' >&2; exit 1; fi
if [ "$(readlink /srv/shop/h1/current 2>/dev/null)" != releases/RELEASE1 ]; then
  ln -sfn releases/RELEASE1 /srv/shop/h1/.current.tmp.$$
  mv -fT /srv/shop/h1/.current.tmp.$$ /srv/shop/h1/current
fi
FAP_STEP='mark RELEASE2 failed'
printf '%s\n' failed > /srv/shop/h1/.fap/releases/RELEASE2.status
FAP_STEP='append revisions.log'
printf '%s\n' '<time> revert release=RELEASE1 revision=- by=<user>@<machine> reverted=RELEASE2' >> /srv/shop/h1/revisions.log
FAP_STEP='journal reverted'
if [ -n "${fap_fence:-}" ] && [ "$(cat /srv/shop/h1/.fap/lock/fence 2>/dev/null)" != "$fap_fence" ]; then if [ -e /srv/shop/h1/.fap/lock/fence ]; then echo 'superseded by a newer attempt of this run; stopping' >&2; else echo 'this run no longer holds the deploy lock (removed with fap unlock, or taken over); stopping' >&2; fi; exit 1; fi
(umask 077 && mkdir -p /srv/shop/h1/.fap/journal)
printf '%s' 'token=TOKEN1
command=deploy
release=RELEASE2
prev=RELEASE1
phase=reverted
at=<time>
host=h1
host=h2
' > /srv/shop/h1/.fap/journal/TOKEN1.tmp.$$ && mv -f /srv/shop/h1/.fap/journal/TOKEN1.tmp.$$ /srv/shop/h1/.fap/journal/TOKEN1
rm -f /srv/shop/h1/.fap/uploads/TOKEN1-*
(cd /srv/shop/h1/.fap/journal && ls -1t | sed 1,10d | while read -r f; do grep -qE '^phase=(done|reverted)$' "$f" && rm -f "$f"; done) || true

# ---- script 5 of 5: stop superseded session, release deploy lock
set -e
FAP_STEP='start'
trap 'rc=$?; if [ $rc -ne 0 ]; then printf "\n%s%s\n" "${FAP_FM-::fap-failed-step::}" "$FAP_STEP" >&2; fi' EXIT
FAP_STEP='stop superseded session'
fap_prev_fence="$(cat /srv/shop/h1/.fap/lock/fence 2>/dev/null || true)"
fap_alive() { grep -qa fap-session "/proc/$1/cmdline" 2>/dev/null; }
fap_reap() {
  fap_alive "$1" || return 0
  kill -TERM "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || true
  fap_n=0
  while fap_alive "$1"; do
    fap_n=$((fap_n + 1))
    if [ "$fap_n" -eq $(($2 * 10)) ]; then kill -KILL "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null || true; fi
    if [ "$fap_n" -gt $(($2 * 10 + 50)) ]; then echo "a superseded session of this run (pid $1) cannot be stopped" >&2; return 1; fi
    sleep 0.1 2>/dev/null || sleep 1
  done
}
case "$fap_prev_fence" in TOKEN1.*) fap_old="${fap_prev_fence##*.}" ;; *) fap_old='' ;; esac
if [ -n "$fap_old" ] && [ "$fap_old" != "$$" ]; then fap_reap "$fap_old" 10; fi
FAP_STEP='release deploy lock'
if [ -n "${fap_fence:-}" ] && [ "$(cat /srv/shop/h1/.fap/lock/fence 2>/dev/null)" != "$fap_fence" ]; then if [ -e /srv/shop/h1/.fap/lock/fence ]; then echo 'superseded by a newer attempt of this run; stopping' >&2; else echo 'this run no longer holds the deploy lock (removed with fap unlock, or taken over); stopping' >&2; fi; exit 1; fi
if grep -qF '"token":"TOKEN1"' /srv/shop/h1/.fap/lock/owner 2>/dev/null && mv -T /srv/shop/h1/.fap/lock /srv/shop/h1/.fap/lock.released.TOKEN1 2>/dev/null; then
  if grep -qF '"token":"TOKEN1"' /srv/shop/h1/.fap/lock.released.TOKEN1/owner 2>/dev/null; then rm -rf /srv/shop/h1/.fap/lock.released.TOKEN1; else mv -T /srv/shop/h1/.fap/lock.released.TOKEN1 /srv/shop/h1/.fap/lock 2>/dev/null || true; fi
fi
