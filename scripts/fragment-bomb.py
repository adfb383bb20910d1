# Fragment bomb against a local opendls (loopback only); see fragment-bomb.sh.
import http.client, os, ssl, sys, threading, re
host, port = "127.0.0.1", int(sys.argv[1])
item_bytes, items_per_fragment, fragments, clients = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
start = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates/wpi/tests/fixtures/guide/p33-start-up.xml")).read()
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
results = []
def post(body, cookie=None):
    c = http.client.HTTPSConnection(host, port, context=ctx, timeout=60)
    headers = {"Content-Type": "text/xml", "Connection": "close"}
    if cookie: headers["Cookie"] = cookie
    c.request("POST", "/DeploymentService/LoginService", body=body, headers=headers)
    r = c.getresponse(); data = r.read().decode(); sc = r.getheader("Set-Cookie"); c.close()
    return data, sc
def client(n):
    mac = "00:1A:E8:0B:%02X:01" % n
    data, sc = post(start.replace("00:01:E3:00:A9:F3", mac).encode())
    cookie = sc.split(";")[0]
    value = "A" * item_bytes
    for f in range(fragments):
        items = "".join('<Item name="attack-%d-%d">%s</Item>' % (f, i, value) for i in range(items_per_fragment))
        body = ('<WorkpointMessage><Message nonce="F%d" maxItems="-1" fragment="next"><ReasonForContact action="ReadAllItems" status="accepted">reply-to</ReasonForContact><ItemList>%s</ItemList></Message></WorkpointMessage>' % (f, items)).encode()
        data, _ = post(body, cookie)
        if "GetNextFragment" not in data:
            m = re.search(r'cleanup-reason">([^<]*)<', data)
            results.append((n, f, m.group(1) if m else data[:200])); return
    results.append((n, fragments, "all accepted"))
ts = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
[t.start() for t in ts]; [t.join() for t in ts]
for r in sorted(results): print("client %d stopped at fragment %d: %s" % r)
