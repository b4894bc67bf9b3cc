#!/usr/bin/env node
'use strict';

// Signs one request with the reference signer of @mojaloop/sdk-standard-components, as an
// SDK-based DFSP would before sending it, for tests that then send it to a live hub.
//
//   echo '{"privateKey": PEM, "method": "POST", "url": "http://hub/transfers",
//          "headers": {...lower-case...}, "body": {...}}' | node sign.js
//
// Prints {"headers": {...with fspiop-signature, fspiop-uri, fspiop-http-method...},
//         "body": "<exactly the text the SDK would send>"}.

const fs = require('node:fs');

const { Jws } = require('@mojaloop/sdk-standard-components');
const { silentLogger } = require('./lib.js');

function main() {
    const input = JSON.parse(fs.readFileSync(0, 'utf8'));
    const signer = new Jws.signer({ signingKey: input.privateKey, logger: silentLogger });
    const options = {
        method: input.method,
        url: input.url,
        headers: { ...input.headers },
        body: input.body,
    };
    signer.sign(options);
    const body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    process.stdout.write(JSON.stringify({ headers: options.headers, body }));
}

// Requiring the SDK installs a logger that swallows uncaught exceptions: exit 1 explicitly.
try {
    main();
} catch (error) {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
}
