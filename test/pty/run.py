# Run a command on a real pseudo-terminal (its controlling terminal, 120x40, as a shell gives it) and
# type into it: each time the output has shown a marker, the next keystrokes are written after a
# delay. Prints one JSON line: {"code": exit code or -signal, "output": everything the terminal showed}.
# usage: run.py SPEC_JSON -- COMMAND...   SPEC: {"keys": [{"after": "publish", "delay": 1.0, "send": "\u0003"}], "timeout": 60}
# A key may instead resize the terminal: {"after": "size", "resize": [30, 100]} (rows, cols; the
# foreground process gets SIGWINCH, as when a window is resized).
import fcntl, json, os, select, struct, subprocess, sys, termios, time

spec = json.loads(sys.argv[1])
cmd = sys.argv[sys.argv.index('--') + 1:]
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))

def controlling_terminal():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)

p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_terminal, close_fds=True)
os.close(slave)
out = b''
keys = list(spec.get('keys', []))
seen_at = None
deadline = time.time() + spec.get('timeout', 60)
while time.time() < deadline:
    ready, _, _ = select.select([master], [], [], 0.05)
    if ready:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b''
        if not data:
            break
        out += data
    if keys:
        k = keys[0]
        if seen_at is None and k['after'].encode() in out:
            seen_at = time.time()
        if seen_at is not None and time.time() - seen_at >= k.get('delay', 0):
            if 'resize' in k:
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack('HHHH', k['resize'][0], k['resize'][1], 0, 0))
            else:
                os.write(master, k['send'].encode())
            keys.pop(0)
            seen_at = None
    if p.poll() is not None and not ready:
        break
else:
    p.kill()
code = p.wait()
print(json.dumps({'code': code, 'output': out.decode('utf-8', 'replace'), 'unsent': len(keys)}))
