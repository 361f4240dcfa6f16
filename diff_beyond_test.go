package nodenet

import "testing"

// TestDifferentialBeyond runs, on node v20 and on nodenet, scenarios of
// the capabilities both have beyond Node v0.10.
func TestDifferentialBeyond(t *testing.T) {
	runScenarios(t, beyondScenarios)
}

var beyondScenarios = []scenario{
	{
		name: "resetAndDestroy: the peer gets ECONNRESET, the socket closes without error",
		node: `
const srv = traceServer(net.createServer(s => {
  trace(s, 'server socket');
  s.on('data', () => s.resetAndDestroy());
}), 'server');
srv.listen(0, '127.0.0.1', () => {
  const c = trace(net.connect(srv.address().port, '127.0.0.1'), 'client');
  c.on('connect', () => c.write('x'));
  c.on('close', () => srv.close(finish));
});`,
		run: func(t *testing.T, tr *tracer) {
			srv := createServer(t, ServerOptions{}, nil)
			tr.serve(srv, "server", func(s *Socket) {
				tr.trace(s, "server socket", func(ev Event) {
					if _, ok := ev.(DataEvent); ok {
						if err := s.ResetAndDestroy(); err != nil {
							t.Error(err)
						}
					}
				})
			}, nil)
			port := mustListen(t, srv)
			c := mustConnect(t, ConnectOptions{Port: port})
			tr.trace(c, "client", func(ev Event) {
				switch ev.(type) {
				case ConnectEvent:
					c.SendString("x", "", nil)
				case CloseEvent:
					srv.Close()
				}
			})
		},
	},
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
			srv := createServer(t, ServerOptions{PauseOnConnect: true}, nil)
			tr.serve(srv, "server", func(s *Socket) {
				tr.trace(s, "server socket", func(ev Event) {
					if _, ok := ev.(DataEvent); ok {
						s.End()
					}
				})
				tr.wg.Add(1)
				go func() {
					defer tr.wg.Done()
					<-wrote
					tr.rec("server socket", "resume", "")
					s.Resume()
				}()
			}, nil)
			port := mustListen(t, srv)
			c := mustConnect(t, ConnectOptions{Port: port})
			tr.trace(c, "client", func(ev Event) {
				switch ev.(type) {
				case ConnectEvent:
					c.SendString("early", "", func(error) { close(wrote) })
				case CloseEvent:
					srv.Close()
				}
			})
		},
	},
}
