#!/usr/bin/env node
'use strict';

// Validates vectors signed by crates/jws with the reference validator of
// @mojaloop/sdk-standard-components (exact version pinned in package.json).
//
//   FERROLOOP_JWS_VECTORS=/path/to/vectors.json node verify.js     (or: node verify.js PATH)
//
// Input: {"keys": {"<id>": "<public key PEM>"},
//         "vectors": [{"name", "key", "headers": {lower-case HTTP headers}, "body": "<text>",
//                      "expect": "accept" | "reject"}]}
// The body is handed to the validator parsed, as an HTTP server hands it over. Exits 1 when
// any vector's outcome differs from its "expect", or when there are no vectors.

const fs = require('node:fs');

const { Jws } = require('@mojaloop/sdk-standard-components');
const { silentLogger } = require('./lib.js');

function validate(keys, vector) {
    const key = keys[vector.key];
    if (!key) {
        throw new Error(`unknown key ${vector.key}`);
    }
    const validator = new Jws.validator({
        validationKeys: { [vector.headers['fspiop-source']]: key },
        logger: silentLogger,
    });
    try {
        validator.validate({ headers: vector.headers, body: JSON.parse(vector.body) });
        return { accepted: true };
    } catch (error) {
        return { accepted: false, reason: error.message };
    }
}

function main() {
    const file = process.env.FERROLOOP_JWS_VECTORS || process.argv[2];
    if (!file) {
        process.stderr.write('usage: FERROLOOP_JWS_VECTORS=PATH node verify.js\n');
        process.exit(2);
    }
    const document = JSON.parse(fs.readFileSync(file, 'utf8'));
    const vectors = document.vectors || [];
    let wrong = 0;
    for (const vector of vectors) {
        const { accepted, reason } = validate(document.keys, vector);
        const expected = vector.expect === 'accept';
        const verdict = accepted === expected ? 'ok  ' : 'FAIL';
        if (accepted !== expected) {
            wrong += 1;
        }
        const outcome = accepted ? 'accepted' : `rejected (${reason.slice(0, 160)})`;
        process.stdout.write(`${verdict} ${vector.name}: expected ${vector.expect}, ${outcome}\n`);
    }
    process.stdout.write(`sdk validator: ${vectors.length - wrong} of ${vectors.length} vectors as expected\n`);
    if (vectors.length === 0 || wrong > 0) {
        process.exit(1);
    }
}

// Requiring the SDK installs a logger that swallows uncaught exceptions (the process would
// exit 0), so failures are caught and turned into a non-zero exit here.
try {
    main();
} catch (error) {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
}
