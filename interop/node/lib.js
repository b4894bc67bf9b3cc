'use strict';

// Helpers shared by vectors.js and verify.js: a silent logger for the SDK classes, PEM
// encoding, and a minimal DER writer to wrap a public key in a self-signed X.509 certificate
// (Node can parse certificates but not create them, and the point is to have no dependency
// beyond the SDK itself).

const crypto = require('node:crypto');

/** A logger the SDK accepts (it calls child(), debug(), error() and reads isDebugEnabled). */
const silentLogger = {
    isDebugEnabled: false,
    child() { return this; },
    debug() {},
    verbose() {},
    info() {},
    warn() {},
    error() {},
    log() {},
    push() { return this; },
};

function pem(label, der) {
    const lines = der.toString('base64').match(/.{1,64}/g);
    return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function derLength(length) {
    if (length < 0x80) {
        return Buffer.from([length]);
    }
    const bytes = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) {
        bytes.unshift(rest % 256);
    }
    return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag, ...parts) {
    const content = Buffer.concat(parts);
    return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

const sequence = (...parts) => tlv(0x30, ...parts);

function oid(dotted) {
    const arcs = dotted.split('.').map(Number);
    const bytes = [40 * arcs[0] + arcs[1]];
    for (const arc of arcs.slice(2)) {
        const encoded = [arc & 0x7f];
        for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) {
            encoded.unshift((rest & 0x7f) | 0x80);
        }
        bytes.push(...encoded);
    }
    return tlv(0x06, Buffer.from(bytes));
}

function utcTime(date) {
    const text = date.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
    return tlv(0x17, Buffer.from(text, 'ascii'));
}

function commonName(text) {
    return sequence(tlv(0x31, sequence(oid('2.5.4.3'), tlv(0x0c, Buffer.from(text, 'utf8')))));
}

/**
 * A self-signed X.509 v3 certificate for a key pair (RSA: sha256WithRSAEncryption, EC:
 * ecdsa-with-SHA256), with a basicConstraints extension so that the [3] field is present.
 * Checked with Node's own X509Certificate parser before it is returned.
 */
function selfSignedCertificate(publicKey, privateKey, subject, serial) {
    const signatureAlgorithm = publicKey.asymmetricKeyType === 'rsa'
        ? sequence(oid('1.2.840.113549.1.1.11'), tlv(0x05))
        : sequence(oid('1.2.840.10045.4.3.2'));
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const basicConstraints = sequence(oid('2.5.29.19'), tlv(0x04, sequence()));
    const tbs = sequence(
        tlv(0xa0, tlv(0x02, Buffer.from([2]))),
        tlv(0x02, Buffer.from([0x01, serial & 0xff])),
        signatureAlgorithm,
        commonName(subject),
        sequence(utcTime(new Date('2025-01-01T00:00:00Z')), utcTime(new Date('2049-12-31T23:59:59Z'))),
        commonName(subject),
        spki,
        tlv(0xa3, sequence(basicConstraints)),
    );
    const signature = crypto.sign('sha256', tbs, privateKey);
    const der = sequence(tbs, signatureAlgorithm, tlv(0x03, Buffer.from([0]), signature));
    const certificate = new crypto.X509Certificate(der);
    if (!certificate.verify(publicKey)
        || !certificate.publicKey.export({ type: 'spki', format: 'der' }).equals(spki)) {
        throw new Error('self-signed certificate does not check out');
    }
    return pem('CERTIFICATE', der);
}

module.exports = { silentLogger, pem, selfSignedCertificate };
