// A grpc-js client of the daemon, for interoperability tests: one command, JSON lines on stdout.
//   node client.js ADDRESS PROTO_ROOT info|health|stream N ENCODING|segment WIDTH HEIGHT BGR_FILE|unknown
'use strict';
const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [address, protoRoot, command, ...args] = process.argv.slice(2);
const load = (file) => grpc.loadPackageDefinition(loader.loadSync(file, {
  includeDirs: [protoRoot], keepCase: true, longs: String, enums: String, defaults: true, bytes: Buffer,
}));
const edge = load('m2snet/edge/v1/segmentation.proto').m2snet.edge.v1;
const health = load('grpc/health/v1/health.proto').grpc.health.v1;
const options = { 'grpc.max_receive_message_length': 64 * 1024 * 1024 };
const segmentation = new edge.Segmentation(address, grpc.credentials.createInsecure(), options);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const fail = (e) => { out({ error: true, code: e.code, details: e.details }); process.exit(0); };
const deadline = () => new Date(Date.now() + 20000);

const summary = (m) => ({
  sequence: m.sequence,
  model: m.model ? m.model.id : '',
  sourceWidth: m.source_width,
  sourceHeight: m.source_height,
  encoding: m.mask ? m.mask.encoding : 'NONE',
  maskWidth: m.mask ? m.mask.width : 0,
  maskHeight: m.mask ? m.mask.height : 0,
  maskBytes: m.mask ? m.mask.data.length : 0,
  maskBase64: m.mask && m.mask.data.length <= 65536 ? m.mask.data.toString('base64') : '',
  runs: m.mask ? m.mask.counts.length : 0,
  foreground: m.mask ? m.mask.foreground_pixels : 0,
  captureNs: m.timestamps.capture_ns,
  sendNs: m.timestamps.send_ns,
  receivedNs: process.hrtime.bigint().toString(),
  clientSequence: m.client_sequence,
});

switch (command) {
  case 'info':
    segmentation.GetInfo({}, { deadline: deadline() }, (e, info) => (e ? fail(e) : out(info)));
    break;
  case 'health': {
    const client = new health.Health(address, grpc.credentials.createInsecure());
    client.Check({ service: args[0] || '' }, { deadline: deadline() }, (e, r) => (e ? fail(e) : out(r)));
    break;
  }
  case 'stream': {
    const n = Number(args[0]);
    let seen = 0;
    const call = segmentation.StreamMasks({ options: { encoding: /^\d+$/.test(args[1]) ? Number(args[1]) : args[1] }, client_name: 'grpc-js' });
    call.on('data', (m) => {
      out(summary(m));
      if (++seen === n) call.cancel();
    });
    call.on('error', (e) => { if (e.code !== grpc.status.CANCELLED || seen < n) fail(e); });
    break;
  }
  case 'segment': {
    const [width, height, file] = args;
    const call = segmentation.Segment();
    call.on('data', (m) => out(summary(m)));
    call.on('error', fail);
    call.on('end', () => out({ end: true }));
    call.write({
      options: { encoding: 'MASK_ENCODING_BITPACKED' },
      frame: { format: 'PIXEL_FORMAT_BGR24', width: Number(width), height: Number(height), data: fs.readFileSync(file) },
      client_sequence: 7,
    });
    call.end();
    break;
  }
  case 'unknown': {
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    client.makeUnaryRequest('/m2snet.edge.v1.Segmentation/NoSuchMethod', (x) => x, (x) => x, Buffer.alloc(0), new grpc.Metadata(),
      { deadline: deadline() }, (e) => (e ? fail(e) : out({ error: false })));
    break;
  }
  default:
    process.stderr.write(`unknown command ${command}\n`);
    process.exit(2);
}
