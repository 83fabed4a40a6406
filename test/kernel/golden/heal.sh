# ---- script 2 of 6: take over stale lock
set -e
FAP_STEP='start'
trap 'rc=$?; if [ $rc -ne 0 ]; then printf "\n%s%s\n" "${FAP_FM-::fap-failed-step::}" "$FAP_STEP" >&2; fi' EXIT
FAP_STEP='take over stale lock'
fap_age() {
  fap_m=$(stat -c %Y "$1" 2>/dev/null || stat -f %m "$1" 2>/dev/null) || return 1
  [ -n "$fap_m" ] || return 1
  fap_a=$(( $(date +%s) - fap_m )); [ "$fap_a" -ge 0 ] || fap_a=0
  echo "$fap_a"
}
fap_n=1; fap_won=''
while [ -d /srv/shop/h1/.fap/lock ]; do
  if mkdir /srv/shop/h1/.fap/lock/breaking."$fap_n" 2>/dev/null; then { printf '%s\n' TOKEN1 > /srv/shop/h1/.fap/lock/breaking."$fap_n"/by; } 2>/dev/null && fap_won=1; break; fi
  fap_c=$(fap_age /srv/shop/h1/.fap/lock/breaking."$fap_n") || break
  [ "$fap_c" -ge 60 ] || break
  fap_n=$((fap_n + 1))
done
if [ -n "$fap_won" ]; then
  if grep -qF '"token":"TOKEN2"' /srv/shop/h1/.fap/lock/owner 2>/dev/null && mv -T /srv/shop/h1/.fap/lock /srv/shop/h1/.fap/lock.stale.TOKEN1 2>/dev/null; then
    if grep -qxF TOKEN1 /srv/shop/h1/.fap/lock.stale.TOKEN1/breaking."$fap_n"/by 2>/dev/null && grep -qF '"token":"TOKEN2"' /srv/shop/h1/.fap/lock.stale.TOKEN1/owner 2>/dev/null; then
      rm -rf /srv/shop/h1/.fap/lock.stale.TOKEN1
      printf '%s\n' "${FAP_OM-::fap-out::}"lock-broken=1
    else mv -T /srv/shop/h1/.fap/lock.stale.TOKEN1 /srv/shop/h1/.fap/lock 2>/dev/null || echo 'fap: a lock moved aside could not be put back: /srv/shop/h1/.fap/lock.stale.TOKEN1' >&2; fi
  elif grep -qxF TOKEN1 /srv/shop/h1/.fap/lock/breaking."$fap_n"/by 2>/dev/null; then rm -rf /srv/shop/h1/.fap/lock/breaking."$fap_n"; fi
fi

# ---- script 3 of 6: create deploy root, take deploy lock, read release state
set -e
FAP_STEP='start'
trap 'rc=$?; if [ $rc -ne 0 ]; then printf "\n%s%s\n" "${FAP_FM-::fap-failed-step::}" "$FAP_STEP" >&2; fi' EXIT
FAP_STEP='create deploy root'
if [ -e /srv/shop/h1/.fap/lock.abandoned.TOKEN1 ]; then echo 'fap gave this lock attempt up (its connection was lost); not locking' >&2; exit 1; fi
mkdir -p /srv/shop/h1/releases /srv/shop/h1/shared /srv/shop/h1
(umask 077 && mkdir -p /srv/shop/h1/.fap/releases /srv/shop/h1/.fap/uploads)
chmod 700 /srv/shop/h1/.fap
FAP_STEP='take deploy lock'
fap_age() {
  fap_m=$(stat -c %Y "$1" 2>/dev/null || stat -f %m "$1" 2>/dev/null) || return 1
  [ -n "$fap_m" ] || return 1
  fap_a=$(( $(date +%s) - fap_m )); [ "$fap_a" -ge 0 ] || fap_a=0
  echo "$fap_a"
}
(umask 077 && mkdir -p /srv/shop/h1/.fap/lock.new.TOKEN1)
printf '%s\n' '<owner record>' > /srv/shop/h1/.fap/lock.new.TOKEN1/owner
: > /srv/shop/h1/.fap/lock.new.TOKEN1/lease
fap_try=0
while ! mv -T /srv/shop/h1/.fap/lock.new.TOKEN1 /srv/shop/h1/.fap/lock 2>/dev/null; do
  fap_owner=$(tr -d '\n' 2>/dev/null < /srv/shop/h1/.fap/lock/owner) || fap_owner=''
  fap_lease=$(fap_age /srv/shop/h1/.fap/lock/lease) || fap_lease=''
  if [ -d /srv/shop/h1/.fap/lock ] || [ "$fap_try" -ge 5 ]; then
    rm -rf /srv/shop/h1/.fap/lock.new.TOKEN1
    printf '%s\n' "${FAP_OM-::fap-out::}"lock-held="$fap_owner"
    printf '%s\n' "${FAP_OM-::fap-out::}"lock-lease="$fap_lease"
    exit 75
  fi
  fap_try=$((fap_try + 1))
done
if [ -e /srv/shop/h1/.fap/lock.abandoned.TOKEN1 ]; then rm -rf /srv/shop/h1/.fap/lock; echo 'fap gave this lock attempt up (its connection was lost); not locking' >&2; exit 1; fi
find /srv/shop/h1/.fap -maxdepth 1 -name 'lock.abandoned.*' -mtime +2 -exec rm -f {} + 2>/dev/null || true
if grep -qF '"token":"TOKEN1"' /srv/shop/h1/.fap/lock/owner 2>/dev/null && ! { [ -f /srv/shop/h1/.fap/lock/renewer.$$ ] && kill -0 "$(cat /srv/shop/h1/.fap/lock/renewer.$$ 2>/dev/null)" 2>/dev/null; }; then
  touch -c /srv/shop/h1/.fap/lock/lease 2>/dev/null || true
  fap_drv=$$
  (trap - EXIT; while sleep 5; do
    kill -0 "$fap_drv" 2>/dev/null || exit 0
    grep -qF '"token":"TOKEN1"' /srv/shop/h1/.fap/lock/owner 2>/dev/null || exit 0
    touch -c /srv/shop/h1/.fap/lock/lease 2>/dev/null || exit 0
  done) </dev/null >/dev/null 2>&1 &
  echo $! > /srv/shop/h1/.fap/lock/renewer.$$
fi
FAP_STEP='read release state'
printf '%s\n' "${FAP_OM-::fap-out::}"current="$(readlink /srv/shop/h1/current 2>/dev/null || true)"
if [ -L /srv/shop/h1/current ]; then fap_t=$(readlink /srv/shop/h1/current || true); case $fap_t in /*) ;; *) fap_t=/srv/shop/h1/$fap_t ;; esac
  fap_d=$(cd -P "$(dirname "$fap_t")" 2>/dev/null && pwd -P || true); fap_r=$(cd -P /srv/shop/h1/releases 2>/dev/null && pwd -P || true)
  if [ -n "$fap_d" ] && [ "$fap_d" = "$fap_r" ]; then printf '%s\n' "${FAP_OM-::fap-out::}"current-in='releases'; else printf '%s\n' "${FAP_OM-::fap-out::}"current-in='elsewhere'; fi
elif [ -e /srv/shop/h1/current ]; then printf '%s\n' "${FAP_OM-::fap-out::}"current-in='not-a-link'; fi
ls -1 /srv/shop/h1/releases 2>/dev/null | sed "s/^/${FAP_OM-::fap-out::}rel=/"
(cd /srv/shop/h1/releases 2>/dev/null && for fap_d in [0-9][0-9][0-9][0-9][0-9][0-9]-[0-9][0-9][0-9][0-9][0-9][0-9]; do [ -f "$fap_d/REVISION" ] && [ ! -L "$fap_d/REVISION" ] && printf '%s:%s\n' "$fap_d" "$(head -c 64 "$fap_d/REVISION" | head -n 1)"; done; true) | sed "s/^/${FAP_OM-::fap-out::}frev=/"
(cd /srv/shop/h1/.fap/releases 2>/dev/null && grep -H '' -- *.status *.meta 2>/dev/null || true) | sed "s/^/${FAP_OM-::fap-out::}st=/"
(cd /srv/shop/h1/.fap/journal 2>/dev/null && awk 'FNR==1{f=0} /^phase=(done|reverted)$/{f=1} /^host=/&&f{next} {print FILENAME ":" $0}' * 2>/dev/null || true) | sed "s/^/${FAP_OM-::fap-out::}journal=/"

# ---- script 4 of 6: check deploy lock, heal: switch current back to RELEASE1, mark RELEASE2 failed, append revisions.log, journal reverted, journal prepare, make shared/ group-writable, check linked files, create release directory, write .env, link shared files, record release
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
FAP_STEP='heal: switch current back to RELEASE1'
if [ -n "${fap_fence:-}" ] && [ "$(cat /srv/shop/h1/.fap/lock/fence 2>/dev/null)" != "$fap_fence" ]; then if [ -e /srv/shop/h1/.fap/lock/fence ]; then echo 'superseded by a newer attempt of this run; stopping' >&2; else echo 'this run no longer holds the deploy lock (removed with fap unlock, or taken over); stopping' >&2; fi; exit 1; fi
if ! { [ -f /srv/shop/h1/releases/RELEASE1/REVISION ]; }; then echo 'release RELEASE1 is missing or incomplete' >&2; exit 1; fi
if [ "$(readlink /srv/shop/h1/current 2>/dev/null)" != releases/RELEASE1 ]; then
  ln -sfn releases/RELEASE1 /srv/shop/h1/.current.tmp.$$
  mv -fT /srv/shop/h1/.current.tmp.$$ /srv/shop/h1/current
fi
FAP_STEP='mark RELEASE2 failed'
printf '%s\n' failed > /srv/shop/h1/.fap/releases/RELEASE2.status
FAP_STEP='append revisions.log'
printf '%s\n' '<time> heal release=RELEASE1 revision=- by=<user>@<machine> interrupted=deploy:RELEASE2:publish' >> /srv/shop/h1/revisions.log
FAP_STEP='journal reverted'
if [ -n "${fap_fence:-}" ] && [ "$(cat /srv/shop/h1/.fap/lock/fence 2>/dev/null)" != "$fap_fence" ]; then if [ -e /srv/shop/h1/.fap/lock/fence ]; then echo 'superseded by a newer attempt of this run; stopping' >&2; else echo 'this run no longer holds the deploy lock (removed with fap unlock, or taken over); stopping' >&2; fi; exit 1; fi
(umask 077 && mkdir -p /srv/shop/h1/.fap/journal)
printf '%s' 'token=TOKEN2
command=deploy
release=RELEASE2
prev=RELEASE1
phase=reverted
at=<time>
host=h1
host=h2
' > /srv/shop/h1/.fap/journal/TOKEN2.tmp.$$ && mv -f /srv/shop/h1/.fap/journal/TOKEN2.tmp.$$ /srv/shop/h1/.fap/journal/TOKEN2
rm -f /srv/shop/h1/.fap/uploads/TOKEN2-*
(cd /srv/shop/h1/.fap/journal && ls -1t | sed 1,10d | while read -r f; do grep -qE '^phase=(done|reverted)$' "$f" && rm -f "$f"; done) || true
FAP_STEP='journal prepare'
if [ -n "${fap_fence:-}" ] && [ "$(cat /srv/shop/h1/.fap/lock/fence 2>/dev/null)" != "$fap_fence" ]; then if [ -e /srv/shop/h1/.fap/lock/fence ]; then echo 'superseded by a newer attempt of this run; stopping' >&2; else echo 'this run no longer holds the deploy lock (removed with fap unlock, or taken over); stopping' >&2; fi; exit 1; fi
(umask 077 && mkdir -p /srv/shop/h1/.fap/journal)
printf '%s' 'token=TOKEN1
command=deploy
release=RELEASE3
prev=RELEASE1
phase=prepare
at=<time>
host=h1
host=h2
' > /srv/shop/h1/.fap/journal/TOKEN1.tmp.$$ && mv -f /srv/shop/h1/.fap/journal/TOKEN1.tmp.$$ /srv/shop/h1/.fap/journal/TOKEN1
FAP_STEP='make shared/ group-writable'
mkdir -p /srv/shop/h1/shared/log
find /srv/shop/h1/shared -xdev ! -type l -user "$(id -u)" ! -perm -g+w -exec chmod g+w {} + 2>/dev/null || true
FAP_STEP='check linked files'
fap_missing=''
[ -e /srv/shop/h1/shared/config.json ] || fap_missing="$fap_missing "config.json
if [ -n "$fap_missing" ]; then echo "linked file(s) missing from /srv/shop/h1/shared:$fap_missing (create them there, then deploy again)" >&2; exit 1; fi
FAP_STEP='create release directory'
if [ -e /srv/shop/h1/releases/RELEASE3 ]; then echo 'release RELEASE3 already exists' >&2; exit 1; fi
printf '%s\n' TOKEN1 > /srv/shop/h1/.fap/releases/RELEASE3.run
printf 'building\n' > /srv/shop/h1/.fap/releases/RELEASE3.status
mkdir -p /srv/shop/h1/releases/RELEASE3
FAP_STEP='write .env'
rm -f /srv/shop/h1/releases/RELEASE3/.env
(umask 077 && printf '%s\n' APP_ENV=production > /srv/shop/h1/releases/RELEASE3/.env)
FAP_STEP='link shared files'
mkdir -p /srv/shop/h1/releases/RELEASE3
rm -rf /srv/shop/h1/releases/RELEASE3/config.json
ln -s /srv/shop/h1/shared/config.json /srv/shop/h1/releases/RELEASE3/config.json
FAP_STEP='record release'
if [ -L /srv/shop/h1/releases/RELEASE3/REVISION ] || [ ! -f /srv/shop/h1/releases/RELEASE3/REVISION ]; then
  rm -f /srv/shop/h1/releases/RELEASE3/.fap-revision.tmp
  printf 'none\n' > /srv/shop/h1/releases/RELEASE3/.fap-revision.tmp
  mv -fT /srv/shop/h1/releases/RELEASE3/.fap-revision.tmp /srv/shop/h1/releases/RELEASE3/REVISION
fi
fap_rev="$(head -n 1 /srv/shop/h1/releases/RELEASE3/REVISION 2>/dev/null || true)"
printf 'revision=%s\ndeployed_at=%s\ndeployed_by=%s\ncommand=%s\n' "$fap_rev" <time> <user>@<machine> deploy > /srv/shop/h1/.fap/releases/RELEASE3.meta
printf '%s\n' "${FAP_OM-::fap-out::}"revision="$fap_rev"
