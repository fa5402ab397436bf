# `refill_status` with a new list of 100 ids every call (as a reseller polls its pending
# refills), between two runs of `balance`, against one server over one keep-alive
# connection: rate and the server's CPU per request (bench/refills.sh runs it).
# Usage: refill_lists.py URL KEY SERVER_PID SECONDS
import http.client, os, random, sys, time, urllib.parse
url, key, pid, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
rng = random.Random(7)
def body(action):
    if action == "balance":
        return urllib.parse.urlencode({"key": key, "action": "balance"})
    ids = rng.sample(range(1, 10_000_000), 100)
    return urllib.parse.urlencode({"key": key, "action": "refill_status", "refills": ",".join(map(str, ids))})
for action in ("balance", "refill_status", "balance"):
    n, c0, t0 = 0, cpu(), time.time()
    while time.time() - t0 < secs:
        conn.request("POST", u.path, body(action), {"content-type": "application/x-www-form-urlencoded"})
        r = conn.getresponse(); data = r.read()
        assert r.status == 200, data[:200]
        n += 1
    dt, dc = time.time() - t0, cpu() - c0
    print(f"{action:14s} {n/dt:8.0f} rps  server cpu {dc/n*1e6:7.1f} us/req")
