// SPDX-License-Identifier: MIT
// A private S3 server for the tests (see tests/unit/server-s3.h): @20minutes/s3rver 4.0.4, which
// verifies SigV4 signatures, installed under $STRATA_S3RVER_PREFIX.
//   node s3rver.js CONFIG.json
// CONFIG: {"port", "directory", "accessKeyId", "secretAccessKey", "buckets": [...],
// "requestLog"}. Each request is appended to requestLog as
// "METHOD PATH token=<x-amz-security-token or ->" before s3rver handles it.
'use strict';

const fs = require('fs');
const path = require('path');

const prefix = process.env.STRATA_S3RVER_PREFIX || '/var/cache/strata-test/s3rver';
const pkg = path.join(prefix, 'node_modules', '@20minutes', 's3rver');
const S3rver = require(pkg);
const AWSAccount = require(path.join(pkg, 'lib', 'models', 'account'));

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

const account = new AWSAccount(123456789012, 'strata-test');
account.createKeyPair(config.accessKeyId, config.secretAccessKey);

const server = new S3rver({
  address: '127.0.0.1',
  port: config.port,
  directory: config.directory,
  silent: false,
  vhostBuckets: false,
  configureBuckets: config.buckets.map((name) => ({ name })),
});

// First in the chain, so that even a request s3rver refuses is logged.
server.middleware.unshift(async (ctx, next) => {
  const token = ctx.get('x-amz-security-token') || '-';
  fs.appendFileSync(config.requestLog, `${ctx.method} ${ctx.path} token=${token}\n`);
  await next();
});

server.run().catch((err) => {
  console.error(`s3rver: ${err.stack || err}`);
  process.exit(1);
});

process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
