// Differential scenarios of the server: address, close, maxConnections, connection
// counts, pauseOnConnect.

package nodenet

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
)

// moreServerScenarios is the share of moreScenarios on the server: address, close, connection limits and counts.
var moreServerScenarios = []scenario{
	{
		name: "server address before, during and after listening; close with no connection",
		node: moreJS + `
const srv = traceServer(net.createServer(), 'server');
rec('addr', 'before listen', addrStr(srv.address()));
srv.listen(0, '127.0.0.1', () => {
  rec('addr', 'listening', addrStr(srv.address()));
  srv.close(() => {
    rec('addr', 'after close', addrStr(srv.address()));
    const any = net.createServer();
    any.listen(0, () => {
      rec('addr', 'no host', addrStr(any.address()));
      any.close(finish);
    });
  });
  rec('addr', 'closing', addrStr(srv.address()));
});`,
		run: func(t *testing.T, tr *tracer) {
			srv := createServer(t, ServerOptions{}, nil)
			tr.rec("addr", "before listen", addrStr(srv.Address(), 0))
			tr.serve(srv, "server", nil, func(ev Event) {
				switch ev.(type) {
				case ListeningEvent:
					tr.rec("addr", "listening", addrStr(srv.Address(), 0))
					if err := srv.Close(); err != nil {
						t.Error(err)
					}
					tr.rec("addr", "closing", addrStr(srv.Address(), 0))
				case CloseEvent:
					tr.rec("addr", "after close", addrStr(srv.Address(), 0))
					anySrv := createServer(t, ServerOptions{}, nil)
					if err := anySrv.Listen(0, "", 0); err != nil {
						t.Error(err)
						return
					}
					tr.rec("addr", "no host", addrStr(anySrv.Address(), 0))
					anySrv.Close()
				}
			})
			listenTCP(t, srv)
		},
		adjust: replaceVal("addr", "no host", "IPv6 :: true", "IPv4 0.0.0.0 true"),
		why:    "v20's listen() with no host binds '::' (dual stack); v0.10 and DESIGN.md's decision bind 0.0.0.0, IPv4 only",
	},
	{
		name: "server close with an open connection",
		node: moreJS + `
let ss, port;
const srv = traceServer(net.createServer(s => {
  ss = s;
  trace(s, 'server socket');
  srv.close();
  rec('order', 'close called', addrStr(srv.address()));
  trace(net.connect(port, '127.0.0.1'), 'third');
  s.end('bye');
}), 'server');
srv.on('close', () => { rec('order', 'server close', ss.readyState); finish(); });
srv.listen(0, '127.0.0.1', () => {
  port = srv.address().port;
  trace(net.connect(port, '127.0.0.1'), 'client');
});`,
		run: func(t *testing.T, tr *tracer) {
			srv := createServer(t, ServerOptions{}, nil)
			var ss atomic.Pointer[Socket]
			tr.serve(srv, "server", func(s *Socket) {
				ss.Store(s)
				tr.trace(s, "server socket", nil)
				port := srv.Address().Port
				if err := srv.Close(); err != nil {
					t.Error(err)
				}
				tr.rec("order", "close called", addrStr(srv.Address(), 0))
				tr.trace(mustConnect(t, ConnectOptions{Port: port}), "third", nil)
				s.EndString("bye", "")
			}, func(ev Event) {
				if _, ok := ev.(CloseEvent); ok {
					tr.rec("order", "server close", ss.Load().ReadyState())
				}
			})
			port := listenTCP(t, srv)
			tr.trace(mustConnect(t, ConnectOptions{Port: port}), "client", nil)
		},
	},
	{
		name: "maxConnections: a connection over the limit gets connect, end, close(false)",
		node: `
const srv = traceServer(net.createServer(s => { trace(s, 'server socket'); s.write('hi'); }), 'server');
srv.maxConnections = 1;
srv.listen(0, '127.0.0.1', () => {
  const port = srv.address().port;
  const c1 = trace(net.connect(port, '127.0.0.1'), 'first');
  c1.once('data', () => {
    const c2 = trace(net.connect(port, '127.0.0.1'), 'second');
    c2.on('close', () => c1.end());
  });
  c1.on('close', () => srv.close(finish));
});`,
		run: func(t *testing.T, tr *tracer) {
			srv := createServer(t, ServerOptions{}, nil)
			if err := srv.SetMaxConnections(1); err != nil {
				t.Error(err)
			}
			tr.serve(srv, "server", func(s *Socket) {
				tr.trace(s, "server socket", nil)
				s.SendString("hi", "", nil)
			}, nil)
			tr.firstThenSecond(listenTCP(t, srv), func(ev Event) {
				if isKind[CloseEvent](ev) {
					srv.Close()
				}
			}, func(c1, _ *Socket, ev Event) {
				if isKind[CloseEvent](ev) {
					c1.End()
				}
			})
		},
	},
	{
		name: "connection counts",
		node: `
let n = 0, c1, c2;
const srv = net.createServer(s => {
  const i = ++n;
  trace(s, 'server socket ' + i);
  srv.getConnections((e, k) => { rec('count', 'connection ' + i, k); s.write('hi'); });
  s.on('close', () => srv.getConnections((e, k) => {
    rec('count', 'closed ' + i, k);
    if (i === 1) c2.end(); else srv.close(finish);
  }));
});
srv.listen(0, '127.0.0.1', () => {
  const port = srv.address().port;
  c1 = trace(net.connect(port, '127.0.0.1'), 'first');
  c1.once('data', () => {
    c2 = trace(net.connect(port, '127.0.0.1'), 'second');
    c2.once('data', () => c1.end());
  });
});`,
		run: func(t *testing.T, tr *tracer) {
			srv := createServer(t, ServerOptions{}, nil)
			var c2 atomic.Pointer[Socket]
			n := 0
			tr.serve(srv, "", func(s *Socket) {
				n++
				i := n
				tr.rec("count", fmt.Sprint("connection ", i), strconv.Itoa(srv.Connections()))
				tr.trace(s, fmt.Sprint("server socket ", i), func(ev Event) {
					if _, ok := ev.(CloseEvent); ok {
						tr.rec("count", fmt.Sprint("closed ", i), strconv.Itoa(srv.Connections()))
						if i == 1 {
							c2.Load().End()
						} else {
							srv.Close()
						}
					}
				})
				s.SendString("hi", "", nil)
			}, nil)
			secondData := first[DataEvent]()
			tr.firstThenSecond(listenTCP(t, srv), nil, func(c1, s2 *Socket, ev Event) {
				if secondData(ev) {
					// The first's close ends the second: it must be known by then.
					c2.Store(s2)
					c1.End()
				}
			})
		},
	},
}

// beyondServerScenarios is the share of beyondScenarios on pauseOnConnect.
var beyondServerScenarios = []scenario{
	{
		name: "pauseOnConnect: nothing is read until resume, then everything",
		node: `
const srv = traceServer(net.createServer({pauseOnConnect: true}, s => {
  trace(s, 'server socket');
  s.on('data', () => s.end());
  setTimeout(() => { rec('server socket', 'resume'); s.resume(); }, 50);
}), 'server');
srv.listen(0, '127.0.0.1', () => {
  const c = trace(net.connect(srv.address().port, '127.0.0.1'), 'client');
  c.on('connect', () => c.write('early'));
  c.on('close', () => srv.close(finish));
});`,
		run: func(t *testing.T, tr *tracer) {
			wrote := make(chan struct{}) // the client's data is in the kernel
			port, closeSrv := tr.listen(ServerOptions{PauseOnConnect: true}, "server", serverSocket{
				on: func(s *Socket, ev Event) {
					if isKind[DataEvent](ev) {
						s.End()
					}
				},
				start: func(s *Socket) {
					tr.wg.Add(1)
					go func() {
						defer tr.wg.Done()
						<-wrote
						tr.rec("server socket", "resume", "")
						s.Resume()
					}()
				},
			})
			tr.client(ConnectOptions{Port: port}, closeSrv, func(c *Socket, ev Event) {
				if isKind[ConnectEvent](ev) {
					c.SendString("early", "", func(error) { close(wrote) })
				}
			})
		},
	},
}
