// The harness's Node echo server: node bench/echo.js PORT
//
// Node's net with its defaults, listening on 127.0.0.1:PORT; each
// connection is piped into itself, so it writes back what it reads and
// ends when the peer ends.
'use strict';

const net = require('net');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node echo.js PORT');
  process.exit(2);
}

const server = net.createServer((c) => {
  // A client that resets its connection ends only that connection.
  c.on('error', () => {});
  c.pipe(c);
});

server.on('error', (err) => {
  console.error(`echo.js: ${err.message}`);
  process.exit(1);
});

server.listen(port, '127.0.0.1');
