#!/usr/bin/env node
'use strict';

// Golden FSPIOP JWS vectors from the reference signer, @mojaloop/sdk-standard-components
// (exact version pinned in package.json), for crates/jws to verify without Node.
//
//   node vectors.js [--out PATH]   (default: ../../crates/jws/testdata/vectors/sdk-signed.json)
//
// Keys are generated fresh on every run: RSA 2048/3072/4096 handed to the SDK signer as
// PKCS#1 and as PKCS#8, P-256 as SEC1 (the SDK picks ES256 only for `BEGIN EC PRIVATE KEY`).
// Each key's public half is written as SPKI, PKCS#1 (RSA) and a self-signed certificate.
//
// Every vector is also run through the SDK validator here; `sdk_validator_accepts` records the
// result. Vectors whose body on the wire differs from the signed bytes (re-serialisation
// cases, see fspiop.md §12) say which form the Rust verifier must find in `body_form`.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const { Jws } = require('@mojaloop/sdk-standard-components');
const sdkPackage = require('@mojaloop/sdk-standard-components/package.json');
const { silentLogger, pem, selfSignedCertificate } = require('./lib.js');

const DEFAULT_OUT = path.join(__dirname, '..', '..', 'crates', 'jws', 'testdata', 'vectors', 'sdk-signed.json');

const TRANSFER_ID = 'b51ec534-ee48-4575-b6a9-ead2955b8069';
const QUOTE_ID = '7c23e80c-d078-4077-8263-2c047876fcf6';

/** Requests every key signs. Bodies are objects: the SDK sends them as sorted compact JSON. */
const REQUESTS = [
    {
        name: 'put-transfer-fulfil',
        method: 'put',
        url: `https://switch.example.com:3000/transfers/${TRANSFER_ID}`,
        headers: { 'fspiop-source': 'payeefsp', 'fspiop-destination': 'payerfsp', date: 'Wed, 01 Jan 2025 00:00:01 GMT' },
        body: {
            transferState: 'COMMITTED',
            fulfilment: 'CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk',
            completedTimestamp: '2025-01-01T00:00:01.000Z',
        },
    },
    {
        name: 'post-quote-unicode',
        method: 'POST',
        url: 'http://hub.example/quotes',
        headers: { 'fspiop-source': 'payerfsp', 'fspiop-destination': 'payeefsp', date: 'Thu, 02 Jan 2025 10:20:30 GMT' },
        body: {
            quoteId: QUOTE_ID,
            transactionId: '85feac2f-39b2-491b-817e-4a03203d4f14',
            payer: {
                partyIdInfo: { partyIdType: 'MSISDN', partyIdentifier: '123456789', fspId: 'payerfsp' },
                name: 'Zoë Ünal-Søren 田中 😀',
            },
            payee: { partyIdInfo: { partyIdType: 'MSISDN', partyIdentifier: '987654321', fspId: 'payeefsp' } },
            amountType: 'SEND',
            amount: { currency: 'USD', amount: '123.45' },
            transactionType: { scenario: 'TRANSFER', initiator: 'PAYER', initiatorType: 'CONSUMER' },
            note: 'quote "with" \\ escapes\n\ttab \u0001 </script> \u2028',
            extensionList: { extension: [{ key: 'b', value: '2' }, { key: 'a', value: '1' }] },
        },
    },
    {
        name: 'put-transfer-error-without-date',
        method: 'PUT',
        url: `/transfers/${TRANSFER_ID}/error`,
        headers: { 'fspiop-source': 'payeefsp', 'fspiop-destination': 'payerfsp' },
        body: { errorInformation: { errorCode: '5105', errorDescription: 'Payee transaction limit reached' } },
    },
    {
        name: 'post-participants-without-destination',
        method: 'POST',
        url: 'https://als.example/participants/MSISDN/123456789',
        headers: { 'fspiop-source': 'payerfsp', date: 'Fri, 03 Jan 2025 23:59:59 GMT' },
        body: { fspId: 'payerfsp', currency: 'USD' },
    },
    {
        name: 'patch-transfer-from-hub',
        method: 'PATCH',
        url: `http://payeefsp.example:4000/sim/transfers/${TRANSFER_ID}`,
        headers: { 'fspiop-source': 'Hub', 'fspiop-destination': 'payeefsp', date: 'Wed, 01 Jan 2025 00:00:02 GMT' },
        body: { transferState: 'COMMITTED', completedTimestamp: '2025-01-01T00:00:02.000Z' },
    },
];

/**
 * A body as some proxy or older client might put it on the wire, with the JavaScript edge
 * cases of re-serialisation: integer-like keys, a duplicate key, numbers that print
 * differently, escapes, non-ASCII keys and whitespace.
 */
const EDGE_CASE_BODY = `{
  "transferState" : "COMMITTED",
  "b" : 1,
  "4294967295" : "not an index",
  "4294967294" : "largest index",
  "10" : "ten",
  "2" : "two",
  "01" : "leading zero",
  "numbers" : [1.0, 1e21, 1e20, 0.0000001, 12.50, -0, 1E+2, 123456789012345678901, 5e-324],
  "escapes" : "\\u0041\\/\\u00e9\\ud83d\\ude00\\u2028\\u001f\\"",
  "é" : "e acute",
  "😀" : "astral key",
  "ｱ" : "halfwidth katakana key",
  "nested" : { "z" : [ { "y" : null, "x" : true } ], "a" : false },
  "b" : "duplicate wins"
}`;

/** A body pretty-printed and unsorted after it was signed sorted. */
const REFORMATTED_BODY_OBJECT = {
    transferState: 'RESERVED',
    fulfilment: 'CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk',
    completedTimestamp: '2025-01-01T00:00:01.000Z',
    extensionList: { extension: [{ value: 'x', key: 'k' }] },
};

function generateKeys() {
    const keys = [];
    for (const bits of [2048, 3072, 4096]) {
        const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: bits });
        for (const form of ['pkcs1', 'pkcs8']) {
            keys.push({
                id: `rsa${bits}-${form}`,
                privateForm: form,
                privatePem: privateKey.export({ type: form, format: 'pem' }),
                publicKey,
                privateKey,
                bits,
            });
        }
    }
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    keys.push({
        id: 'p256-sec1',
        privateForm: 'sec1',
        privatePem: privateKey.export({ type: 'sec1', format: 'pem' }),
        publicKey,
        privateKey,
        bits: 256,
    });
    return keys.map((key, index) => ({
        ...key,
        public: {
            spki: key.publicKey.export({ type: 'spki', format: 'pem' }),
            ...(key.publicKey.asymmetricKeyType === 'rsa'
                ? { pkcs1: key.publicKey.export({ type: 'pkcs1', format: 'pem' }) }
                : {}),
            certificate: selfSignedCertificate(key.publicKey, key.privateKey, `${key.id} test`, index + 1),
        },
    }));
}

/** Signs like an SDK client: the signer fills in fspiop-uri/-http-method/-signature. */
function sdkSign(key, request, body) {
    const signer = new Jws.signer({ signingKey: key.privatePem, logger: silentLogger });
    const options = {
        method: request.method,
        url: request.url,
        headers: { ...request.headers },
        body,
    };
    signer.sign(options);
    return { headers: options.headers, signedBody: options.body };
}

function sdkValidates(key, headers, wireBody) {
    const validator = new Jws.validator({
        validationKeys: { [headers['fspiop-source']]: key.public.spki },
        logger: silentLogger,
    });
    try {
        return validator.validate({ headers, body: JSON.parse(wireBody) });
    } catch {
        return false;
    }
}

function vector(name, key, request, body, wireBody, bodyForm) {
    const { headers, signedBody } = sdkSign(key, request, body);
    const wire = wireBody === undefined ? signedBody : wireBody;
    const protectedHeader = JSON.parse(
        Buffer.from(JSON.parse(headers['fspiop-signature']).protectedHeader, 'base64url').toString('utf8'));
    return {
        name: `${name}/${key.id}`,
        key: key.id,
        alg: protectedHeader.alg,
        headers,
        body: wire,
        signed_body: signedBody,
        body_form: bodyForm,
        sdk_validator_accepts: sdkValidates(key, headers, wire),
    };
}

function main() {
    const outIndex = process.argv.indexOf('--out');
    const out = outIndex > 0 ? process.argv[outIndex + 1] : DEFAULT_OUT;
    if (!out) {
        throw new Error('--out needs a path');
    }

    const keys = generateKeys();
    const vectors = [];
    for (const key of keys) {
        for (const request of REQUESTS) {
            vectors.push(vector(request.name, key, request, structuredClone(request.body), undefined, 'raw'));
        }
    }

    const transfer = REQUESTS[0];
    for (const key of [keys.find((k) => k.id === 'rsa2048-pkcs8'), keys.find((k) => k.id === 'p256-sec1')]) {
        // Signed sorted (SDK 19.19 signer), then pretty-printed unsorted on the way.
        vectors.push(vector('reformatted-after-signing', key, transfer, structuredClone(REFORMATTED_BODY_OBJECT),
            JSON.stringify(REFORMATTED_BODY_OBJECT, null, 2), 'sorted-keys'));
        // Signed as an older SDK re-serialises: JSON.stringify of the parsed body.
        vectors.push(vector('edge-cases-received-order', key, transfer,
            JSON.stringify(JSON.parse(EDGE_CASE_BODY)), EDGE_CASE_BODY, 'received-order'));
        // Signed as SDK 19.19 re-serialises: the signer sorts the parsed body.
        vectors.push(vector('edge-cases-sorted', key, transfer, JSON.parse(EDGE_CASE_BODY),
            EDGE_CASE_BODY, 'sorted-keys'));
    }

    const unexpected = vectors.filter((v) => v.sdk_validator_accepts !== (v.body_form !== 'received-order'));
    if (unexpected.length > 0) {
        throw new Error(`SDK validator disagrees with the vector's own expectation: ${unexpected.map((v) => v.name).join(', ')}`);
    }

    const document = {
        comment: 'Generated by interop/node/vectors.js; throwaway keys, regenerate rather than edit.',
        generator: {
            sdk: `${sdkPackage.name} ${sdkPackage.version}`,
            node: process.version,
        },
        keys: keys.map((key) => ({
            id: key.id,
            bits: key.bits,
            private_form: key.privateForm,
            public: key.public,
        })),
        vectors,
    };
    fs.writeFileSync(out, JSON.stringify(document, null, 2) + '\n');
    process.stdout.write(`wrote ${vectors.length} vectors for ${keys.length} keys to ${out}\n`);
}

// Requiring the SDK installs a logger that swallows uncaught exceptions (the process would
// exit 0), so failures are caught and turned into a non-zero exit here.
try {
    main();
} catch (error) {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
}
