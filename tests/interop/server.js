// A grpc-js server of the Segmentation contract with scripted answers, for testing our client
// against a reference implementation. Prints "listening PORT" once ready.
//   node server.js PROTO_ROOT
'use strict';
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const protoRoot = process.argv[2];
const load = (file) => grpc.loadPackageDefinition(loader.loadSync(file, {
  includeDirs: [protoRoot], keepCase: true, longs: String, enums: String, defaults: true,
}));
const edge = load('m2snet/edge/v1/segmentation.proto').m2snet.edge.v1;

const server = new grpc.Server({ 'grpc.max_receive_message_length': 1024 * 1024 });
server.addService(edge.Segmentation.service, {
  GetInfo: (call, done) => done(null, { daemon_version: 'grpc-js-reference', execution_provider: 'CPU', ready: true }),
  // client_name scripts the reply: "N" sends N messages then OK; "fail:N" sends N then an error
  // whose detail has non-ASCII text; "slow" waits until the client's deadline.
  StreamMasks: (call) => {
    const name = call.request.client_name;
    if (name === 'slow') return;
    const [mode, count] = name.includes(':') ? name.split(':') : ['ok', name];
    for (let i = 1; i <= Number(count); i++) {
      call.write({ sequence: i, mask: { encoding: 'MASK_ENCODING_RLE', width: 4, height: 2, counts: [3, 2, 3] } });
    }
    if (mode === 'fail') call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: 'Läsion 100% außer Betrieb' });
    else call.end();
  },
  Segment: (call) => {
    call.on('data', (r) => call.write({ sequence: 1, client_sequence: r.client_sequence, source_width: r.frame ? r.frame.width : 0 }));
    call.on('end', () => call.end());
  },
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) => {
  if (e) { process.stderr.write(String(e) + '\n'); process.exit(1); }
  process.stdout.write(`listening ${port}\n`);
});
