#!/usr/bin/env node
'use strict';

// ILP interop oracle for crates/ilp: the reference ILP code of Mojaloop DFSPs, i.e. the `Ilp`
// classes of @mojaloop/sdk-standard-components (IlpV1 over `ilp-packet-v1` 2.2.0, IlpV4 over
// `ilp-packet` 3.1.3; exact versions pinned in package.json / package-lock.json), and
// `ilp-packet` 3.1.3 itself for the ILPv4 Fulfill and Reject packets the SDK does not wrap.
//
//   node ilp.js vectors [--out PATH]   golden vectors (default ../../crates/ilp/testdata/sdk-vectors.json)
//   node ilp.js generate    < request.json > response.json   the SDK builds terms
//   node ilp.js validate    < request.json > response.json   the SDK checks terms built elsewhere
//   node ilp.js serialize   < request.json > response.json   ilp-packet encodes Prepare/Fulfill/Reject
//   node ilp.js deserialize < request.json > response.json   ilp-packet decodes Prepare/Fulfill/Reject
//
// Request and response formats are described above each command below. Binary fields are
// lower-case hex (`...Hex`) or, for whole packets, conditions and fulfilments, unpadded
// base64url as on the FSPIOP wire. Per-case SDK errors are reported in the response
// (`ok: false`, `error`); anything else (bad request, unknown command) exits 1.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const { Ilp } = require('@mojaloop/sdk-standard-components');
const sdkPackage = require('@mojaloop/sdk-standard-components/package.json');
const ilpPacket = require('ilp-packet');
const ilpPacketPackage = require('ilp-packet/package.json');
// The SDK's own copies: ilp-packet-v1 is only its dependency, and the direct `ilp-packet`
// dependency must be the very version the SDK's IlpV4 uses (checked in main()).
const sdkDir = path.dirname(require.resolve('@mojaloop/sdk-standard-components/package.json'));
const ilpPacketV1Package = require(require.resolve('ilp-packet-v1/package.json', { paths: [sdkDir] }));
const sdkIlpPacketPackage = require(require.resolve('ilp-packet/package.json', { paths: [sdkDir] }));
const { transactionObjectDto } = require('@mojaloop/sdk-standard-components/src/lib/dto.js');
const { silentLogger } = require('./lib.js');

const DEFAULT_OUT = path.join(__dirname, '..', '..', 'crates', 'ilp', 'testdata', 'sdk-vectors.json');

const VERSIONS = {
    sdk: `@mojaloop/sdk-standard-components ${sdkPackage.version}`,
    v1: `ilp-packet-v1 ${ilpPacketV1Package.version}`,
    v4: `ilp-packet ${ilpPacketPackage.version}`,
};

// ---------------------------------------------------------------------------------------------
// helpers

const b64url = (buffer) => Buffer.from(buffer).toString('base64url');
const fromB64url = (text) => Buffer.from(text, 'base64url');
const hex = (buffer) => Buffer.from(buffer).toString('hex');
const sha256Hex = (buffer) => crypto.createHash('sha256').update(buffer).digest('hex');

function sdkIlp(version, secret) {
    if (version !== Ilp.ILP_VERSIONS.v1 && version !== Ilp.ILP_VERSIONS.v4) {
        throw new Error(`unknown ILP version ${JSON.stringify(version)}`);
    }
    return Ilp.ilpFactory(version, { secret, logger: silentLogger });
}

/** Runs `fn`, returning `{ ok: true, ...result }` or `{ ok: false, error }`. */
function attempt(fn) {
    try {
        return { ok: true, ...fn() };
    } catch (error) {
        return { ok: false, error: String(error && error.message ? error.message : error) };
    }
}

/** The SDK's own view of a v1 Payment / v4 Prepare `ilpPacket`. */
function decodeTermsPacket(ilp, ilpPacketText) {
    const packet = ilp.decodeIlpPacket(ilpPacketText);
    if (ilp.version === Ilp.ILP_VERSIONS.v1) {
        return {
            type: 'payment',
            amount: String(packet.amount),
            account: packet.account,
            // The account bytes exactly as they are in the packet (the SDK writes its address
            // with Node's 'ascii' encoding, i.e. the low byte of each UTF-16 code unit).
            accountHex: hex(accountBytes(ilpPacketText)),
            dataLength: packet.data.length,
            dataSha256: sha256Hex(packet.data),
        };
    }
    return {
        type: 'prepare',
        amount: String(packet.amount),
        expiresAt: packet.expiresAt.toISOString(),
        executionCondition: b64url(packet.executionCondition),
        destination: packet.destination,
        dataLength: packet.data.length,
        dataSha256: sha256Hex(packet.data),
    };
}

/** The raw account field of an ILPv1 Payment (ilp-packet-v1 decodes it lossily to ASCII). */
function accountBytes(ilpPacketText) {
    const bytes = Buffer.from(ilpPacketText, 'base64');
    let at = 1;
    const readLength = () => {
        const first = bytes[at++];
        if (first < 0x80) {
            return first;
        }
        let length = 0;
        for (let i = 0; i < (first & 0x7f); i++) {
            length = length * 256 + bytes[at++];
        }
        return length;
    };
    readLength(); // envelope
    at += 8; // amount
    const length = readLength();
    return bytes.subarray(at, at + length);
}

// ---------------------------------------------------------------------------------------------
// generate
//
// request:  {"cases": [{"name", "version": "v1"|"v4", "secret",
//                       and one of: "quoteRequest" + "quoteResponse"   (getQuoteResponseIlp)
//                                   "fxQuoteRequest" + "fxQuoteResponse" (getFxQuoteResponseIlp)
//                                   "transactionObject"                (getResponseIlp)}]}
// response: {"versions", "results": [{"name", "version", "ok": true, "ilpPacket", "condition",
//            "fulfilment", "transactionObject" (as decoded back from the packet), "decoded",
//            "validateFulfil"} | {"name", "version", "ok": false, "error"}]}

function generateOne(input) {
    const ilp = sdkIlp(input.version, input.secret);
    let terms;
    if (input.quoteRequest) {
        terms = ilp.getQuoteResponseIlp(input.quoteRequest, input.quoteResponse);
    } else if (input.fxQuoteRequest) {
        terms = ilp.getFxQuoteResponseIlp(input.fxQuoteRequest, input.fxQuoteResponse);
    } else if (input.transactionObject) {
        terms = ilp.getResponseIlp(input.transactionObject);
    } else {
        throw new Error('case has no quoteRequest, fxQuoteRequest or transactionObject');
    }
    return {
        ilpPacket: terms.ilpPacket,
        condition: terms.condition,
        fulfilment: terms.fulfilment,
        transactionObject: ilp.getTransactionObject(terms.ilpPacket),
        decoded: decodeTermsPacket(ilp, terms.ilpPacket),
        validateFulfil: ilp.validateFulfil(terms.fulfilment, terms.condition),
    };
}

function generate(request) {
    return {
        versions: VERSIONS,
        results: cases(request).map((input) => ({
            name: input.name,
            version: input.version,
            ...attempt(() => generateOne(input)),
        })),
    };
}

// ---------------------------------------------------------------------------------------------
// validate
//
// request:  {"cases": [{"name", "version", "ilpPacket", "condition", "fulfilment",
//                       "secret"?   (to recompute the fulfilment and regenerate the terms),
//                       "transfer"? ({payerFsp, payeeFsp, amount: {amount, currency}})}]}
// response: {"versions", "results": [{"name", "ok": true,
//            "decoded"                  decodeIlpPacket, as in generate,
//            "transactionObject"        getTransactionObject,
//            "validateFulfil"           validateFulfil(fulfilment, condition),
//            "conditionFromFulfil"      calculateConditionFromFulfil(fulfilment),
//            "calculateFulfil"?         calculateFulfil(ilpPacket) with the secret,
//            "regenerated"?             getResponseIlp(transactionObject) with the secret,
//            "validateIlpAgainstTransferRequest"?} | {"name", "ok": false, "error"}]}

function validateOne(input) {
    // The checks that need no secret run with a placeholder (the SDK insists on one).
    const ilp = sdkIlp(input.version, input.secret || 'unused');
    const result = {
        decoded: decodeTermsPacket(ilp, input.ilpPacket),
        transactionObject: ilp.getTransactionObject(input.ilpPacket),
        validateFulfil: ilp.validateFulfil(input.fulfilment, input.condition),
        conditionFromFulfil: ilp.calculateConditionFromFulfil(input.fulfilment),
    };
    if (input.secret !== undefined) {
        result.calculateFulfil = ilp.calculateFulfil(input.ilpPacket);
        const regenerated = ilp.getResponseIlp(result.transactionObject);
        result.regenerated = {
            ilpPacket: regenerated.ilpPacket,
            condition: regenerated.condition,
            fulfilment: regenerated.fulfilment,
        };
    }
    if (input.transfer) {
        result.validateIlpAgainstTransferRequest = ilp.validateIlpAgainstTransferRequest({
            ...input.transfer,
            ilpPacket: input.ilpPacket,
        });
    }
    return result;
}

function validate(request) {
    return {
        versions: VERSIONS,
        results: cases(request).map((input) => ({
            name: input.name,
            ...attempt(() => validateOne(input)),
        })),
    };
}

// ---------------------------------------------------------------------------------------------
// serialize / deserialize (ilp-packet 3.1.3)
//
// serialize request:   {"packets": [{"name", "type": "fulfill", "fulfillment", "dataHex"}
//                                 | {"name", "type": "reject", "code", "triggeredBy", "message", "dataHex"}
//                                 | {"name", "type": "prepare", "amount", "expiresAt" (ISO),
//                                    "executionCondition", "destination", "dataHex"}]}
// serialize response:  {"versions", "results": [{"name", "ok": true, "packet"} | {"name", "ok": false, "error"}]}
// deserialize request: {"packets": [{"name", "packet"}]}
// deserialize response: {"versions", "results": [{"name", "ok": true, "type", ...the fields as
//                        in serialize, plus "messageHex" for a reject} | {"name", "ok": false, "error"}]}

function serializeOne(input) {
    const data = Buffer.from(input.dataHex || '', 'hex');
    let packet;
    switch (input.type) {
    case 'fulfill':
        packet = ilpPacket.serializeIlpFulfill({ fulfillment: fromB64url(input.fulfillment), data });
        break;
    case 'reject':
        packet = ilpPacket.serializeIlpReject({
            code: input.code,
            triggeredBy: input.triggeredBy,
            message: input.message,
            data,
        });
        break;
    case 'prepare':
        packet = ilpPacket.serializeIlpPrepare({
            amount: input.amount,
            expiresAt: new Date(input.expiresAt),
            executionCondition: fromB64url(input.executionCondition),
            destination: input.destination,
            data,
        });
        break;
    default:
        throw new Error(`unknown packet type ${JSON.stringify(input.type)}`);
    }
    return { packet: b64url(packet) };
}

function deserializeOne(input) {
    const bytes = fromB64url(input.packet);
    const { typeString, data: packet } = ilpPacket.deserializeIlpPacket(bytes);
    switch (typeString) {
    case 'ilp_fulfill':
        return { type: 'fulfill', fulfillment: b64url(packet.fulfillment), dataHex: hex(packet.data) };
    case 'ilp_reject':
        return {
            type: 'reject',
            code: packet.code,
            triggeredBy: packet.triggeredBy,
            message: packet.message,
            messageHex: hex(Buffer.from(packet.message, 'utf8')),
            dataHex: hex(packet.data),
        };
    default:
        return {
            type: 'prepare',
            amount: String(packet.amount),
            expiresAt: packet.expiresAt.toISOString(),
            executionCondition: b64url(packet.executionCondition),
            destination: packet.destination,
            dataHex: hex(packet.data),
        };
    }
}

function serialize(request) {
    return {
        versions: VERSIONS,
        results: packets(request).map((input) => ({ name: input.name, ...attempt(() => serializeOne(input)) })),
    };
}

function deserialize(request) {
    return {
        versions: VERSIONS,
        results: packets(request).map((input) => ({ name: input.name, ...attempt(() => deserializeOne(input)) })),
    };
}

function cases(request) {
    if (!request || !Array.isArray(request.cases) || request.cases.length === 0) {
        throw new Error('request has no "cases"');
    }
    return request.cases;
}

function packets(request) {
    if (!request || !Array.isArray(request.packets) || request.packets.length === 0) {
        throw new Error('request has no "packets"');
    }
    return request.packets;
}

// ---------------------------------------------------------------------------------------------
// vectors: the golden file crates/ilp/tests/sdk_vectors_*.rs check without Node. Deterministic:
// regenerating with the same SDK version rewrites the same bytes.

const QUOTE_ID = '8c2b2d8f-7c2d-4a5e-9a8a-2a3b9b8c1d01';
const TRANSACTION_ID = '5f1b7a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b';
const EXPIRATION = '2030-01-01T00:00:00.000Z';
const TRANSFER = { scenario: 'TRANSFER', initiator: 'PAYER', initiatorType: 'CONSUMER' };
const UNICODE = 'Zoë Ünal-Søren 田中 😀 "quoted" \\ back\nslash\ttab \u0001 </script> \u2028 \u007f';

const party = (partyIdType, partyIdentifier, fspId, extra = {}) => ({
    partyIdInfo: { partyIdType, partyIdentifier, fspId, ...extra },
});

/** A quote request / response pair as a payee DFSP receives and answers it. */
function quote({ amount = '100.5', currency = 'USD', payee, payer, note, expiration = EXPIRATION,
    transactionType = TRANSFER, extra = {} } = {}) {
    return {
        quoteRequest: {
            quoteId: QUOTE_ID,
            transactionId: TRANSACTION_ID,
            payee: payee || party('MSISDN', '27713803912', 'payeefsp'),
            payer: payer || party('MSISDN', '44123456789', 'payerfsp'),
            amountType: 'RECEIVE',
            amount: { currency, amount },
            transactionType,
            ...extra,
        },
        quoteResponse: {
            transferAmount: { currency, amount },
            expiration,
            ilpPacket: 'filled-in-by-the-sdk',
            condition: 'filled-in-by-the-sdk',
            ...(note !== undefined && { note }),
        },
    };
}

/** Terms cases built for both versions (v4-only and v1-only ones are marked). */
function termsCases() {
    const list = [];
    const add = (name, q, { secret = 'secret', versions = ['v1', 'v4'], comment } = {}) => {
        for (const version of versions) {
            list.push({ name: `${name}/${version}`, version, secret, ...(comment && { comment }), ...q });
        }
    };
    add('fspiop-4.6', quote(), { comment: 'the worked example of fspiop.md §4.6' });
    // amounts, currencies, scales
    add('usd-one-cent', quote({ amount: '0.01' }));
    add('usd-integer', quote({ amount: '5' }));
    add('usd-two-decimals', quote({ amount: '123.45' }));
    add('usd-trailing-zero', quote({ amount: '1.10' }), { comment: 'a trailing zero is not significant: 110 minor units' });
    add('usd-zero', quote({ amount: '0' }));
    add('usd-u64-max', quote({ amount: '184467440737095516.15' }), { comment: 'amount 2^64-1 minor units, beyond IEEE double precision' });
    add('usd-2^53+1', quote({ amount: '90071992547409.93' }), { comment: '2^53+1 minor units: not representable as a double' });
    add('eur-large', quote({ amount: '999999999999.99', currency: 'EUR' }));
    add('tzs-fraction', quote({ amount: '1000000.5', currency: 'TZS' }));
    add('jpy-zero-decimals', quote({ amount: '5000', currency: 'JPY' }));
    add('jpy-zero-fraction', quote({ amount: '7.0', currency: 'JPY' }), { comment: 'zero fractional digits beyond the scale are fine' });
    add('jpy-u64-max', quote({ amount: '18446744073709551615', currency: 'JPY' }));
    add('krw-zero-decimals', quote({ amount: '1500000', currency: 'KRW' }));
    add('xof-zero-decimals', quote({ amount: '250', currency: 'XOF' }));
    add('kwd-three-decimals', quote({ amount: '1.234', currency: 'KWD' }));
    add('bhd-one-fils', quote({ amount: '0.001', currency: 'BHD' }));
    add('clf-four-decimals', quote({ amount: '1.2345', currency: 'CLF' }));
    add('xts-four-decimals', quote({ amount: '42.5', currency: 'XTS' }));
    // payee id types (the ILPv1 account is built from payee.partyIdInfo)
    add('payee-email', quote({ payee: party('EMAIL', 'Someone.Else@Example.com', 'payeefsp') }),
        { comment: 'the SDK puts "@" in the v1 account: not an RFC 15 address' });
    add('payee-personal-id-sub-type', quote({ payee: party('PERSONAL_ID', 'AB123456', 'payeefsp', { partySubIdOrType: 'PASSPORT' }) }));
    add('payee-business', quote({ payee: party('BUSINESS', 'ACME-Ltd_01', 'FSP-Upper') }), { comment: 'fspId keeps its case, the rest is lower-cased' });
    add('payee-device', quote({ payee: party('DEVICE', '00:1B:44:11:3A:B7', 'payeefsp', { partySubIdOrType: 'Till-7' }) }));
    add('payee-account-id', quote({ payee: party('ACCOUNT_ID', '0123 4567 89', 'payeefsp', { partySubIdOrType: 'Savings' }) }),
        { comment: 'spaces go into the v1 account verbatim' });
    add('payee-iban', quote({ payee: party('IBAN', 'DE89370400440532013000', 'payeefsp') }));
    add('payee-alias-unicode', quote({ payee: party('ALIAS', 'ZOË-田中😀', 'payeefsp') }),
        { comment: 'non-ASCII: the SDK writes the low byte of each UTF-16 code unit of the lower-cased text' });
    add('payee-empty-sub-id', quote({ payee: party('MSISDN', '27713803912', 'payeefsp', { partySubIdOrType: '' }) }),
        { comment: 'an empty partySubIdOrType is left out of the address' });
    // free text and nested objects
    add('note-unicode', quote({ note: UNICODE }));
    add('note-empty-dropped', quote({ note: '' }), { comment: 'transactionObjectDto drops an empty note' });
    add('rich-parties', quote({
        payer: {
            partyIdInfo: {
                partyIdType: 'MSISDN',
                partyIdentifier: '44123456789',
                fspId: 'payerfsp',
                extensionList: { extension: [{ key: 'ключ', value: UNICODE }, { key: 'a', value: '1' }] },
            },
            merchantClassificationCode: '4321',
            name: 'Zoë Ünal-Søren',
            personalInfo: {
                complexName: { firstName: 'Zoë', middleName: 'Ünal', lastName: '田中' },
                dateOfBirth: '1984-01-01',
            },
        },
        transactionType: {
            scenario: 'PAYMENT',
            subScenario: 'LOCALLY_DEFINED',
            initiator: 'PAYEE',
            initiatorType: 'BUSINESS',
            refundInfo: { originalTransactionId: 'b51ec534-ee48-4575-b6a9-ead2955b8069', refundReason: 'Zoë 😀' },
            balanceOfPayments: '123',
        },
        extra: { extensionList: { extension: [{ key: 'dropped', value: 'not in the Transaction' }] } },
    }), { comment: 'payer and transactionType are copied whole; the quote extensionList is not' });
    // expirations (the v4 expiresAt; v1 only carries it inside the Transaction)
    add('expiration-offset', quote({ expiration: '2030-01-01T03:00:00.000+03:00' }), { comment: 'expiresAt is the UTC instant' });
    add('expiration-microseconds', quote({ expiration: '2030-06-30T23:59:59.999999Z' }), { comment: 'expiresAt truncates to milliseconds' });
    add('expiration-no-fraction', quote({ expiration: '2031-02-28T12:34:56Z' }));
    // secrets
    add('secret-unicode', quote(), { secret: 'sëcret 🔑 with spaces' });
    add('secret-long', quote(), { secret: 'x'.repeat(100) + '0123456789'.repeat(10) });
    // an arbitrary Transaction object through getResponseIlp, with numbers
    list.push(...['v1', 'v4'].map((version) => ({
        name: `transaction-object-with-numbers/${version}`,
        version,
        secret: 'secret',
        comment: 'getResponseIlp on a hand-made object: number formatting and key order of safe-stable-stringify',
        transactionObject: {
            quoteId: QUOTE_ID,
            transactionId: TRANSACTION_ID,
            transactionType: TRANSFER,
            payee: party('MSISDN', '27713803912', 'payeefsp'),
            payer: party('MSISDN', '44123456789', 'payerfsp'),
            expiration: EXPIRATION,
            amount: { amount: '1', currency: 'USD' },
            // Only numbers serde_json's default (not correctly rounded) float parser reads
            // exactly: 123456789012345680000, for one, it reads as the neighbouring double
            // (see json_numbers_serde_json_misreads in sdk_vectors_terms.rs).
            numbers: [1, 1.5, -0, 1e21, 1e-7, 0.1, 5e-324, 9007199254740993, 1.7976931348623157e308],
            'é': 1, 'Z': 2, 'a': 3, '😀': 4, 'ｱ': 5, '10': 6, '2': 7,
        },
    })));
    return list;
}

function fxCases() {
    const fx = (version) => ({
        name: `fx-conversion/${version}`,
        version,
        secret: 'secret',
        comment: 'FX: amount 0; v1 account g.{counterPartyFsp}.{source currency}.{target currency}, lower-cased',
        fxQuoteRequest: { conversionRequestId: 'b51ec534-ee48-4575-b6a9-ead2955b8069' },
        fxQuoteResponse: {
            conversionTerms: {
                conversionId: '581f68ef-b54f-416f-9161-ac34e889a84b',
                determiningTransferId: 'b51ec534-ee48-4575-b6a9-ead2955b8069',
                initiatingFsp: 'payerfsp',
                counterPartyFsp: 'FXP-One',
                amountType: 'SEND',
                sourceAmount: { currency: 'USD', amount: '100' },
                targetAmount: { currency: 'EUR', amount: '91.5' },
                expiration: '2030-01-01T00:00:00.000Z',
                charges: [],
            },
        },
    });
    return [fx('v1'), fx('v4')];
}

/** Inputs where the SDK and crates/ilp deliberately disagree (see the Rust tests). */
function quirkCases() {
    const tx = (amount, currency, payee) => {
        const { quoteRequest, quoteResponse } = quote({ amount, currency, payee });
        return { quoteRequest, quoteResponse };
    };
    const list = [];
    const add = (name, versions, q, comment) => {
        for (const version of versions) {
            list.push({ name: `${name}/${version}`, version, secret: 'secret', comment, ...q });
        }
    };
    add('too-precise', ['v1', 'v4'], tx('1.005', 'USD'),
        'v1 silently truncates 100.5 minor units to 100; v4 refuses');
    add('too-precise-jpy', ['v1', 'v4'], tx('1.5', 'JPY'), 'v1 truncates to 1; v4 refuses');
    add('overflow', ['v1', 'v4'], tx('99999999999999999999', 'JPY'), 'the amount wraps modulo 2^64');
    add('overflow-by-one', ['v1', 'v4'], tx('184467440737095516.16', 'USD'), '2^64 minor units wraps to 0');
    add('negative', ['v1', 'v4'], tx('-1', 'USD'), 'v1 wraps -100 to 2^64-100; v4 refuses');
    add('not-fspiop-amount-leading-dot', ['v1', 'v4'], tx('.5', 'USD'), 'not an FSPIOP Amount; the SDK reads 0.5');
    add('not-fspiop-amount-trailing-dot', ['v1', 'v4'], tx('5.', 'USD'), 'not an FSPIOP Amount; the SDK reads 5');
    add('not-fspiop-amount-exponent', ['v1', 'v4'], tx('1e3', 'USD'), 'not an FSPIOP Amount; the SDK reads 1000');
    add('not-fspiop-amount-space', ['v1', 'v4'], tx(' 1', 'USD'), 'not an FSPIOP Amount; the SDK reads 1');
    add('unknown-currency', ['v1', 'v4'], tx('1', 'XYZ'), 'the SDK knows only its own ISO 4217 table');
    add('lower-case-currency', ['v1', 'v4'], tx('1', 'usd'), 'the SDK table is case-sensitive');
    add('payee-empty-identifier', ['v1'], tx('1', 'USD', party('MSISDN', '', 'payeefsp')), 'the SDK refuses an empty partyIdentifier');
    add('payee-null-sub-id', ['v1'], tx('1', 'USD', party('MSISDN', '1', 'payeefsp', { partySubIdOrType: null })),
        'the SDK refuses a null partySubIdOrType');
    add('payee-no-fsp-id', ['v1'], tx('1', 'USD', { partyIdInfo: { partyIdType: 'MSISDN', partyIdentifier: '1' } }),
        'the SDK writes the account g.undefined.msisdn.1');
    return list;
}

const FULFILMENTS = [
    'CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk',
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    '__________________________________________8',
    'WLctttbu2HvTsa1XWvUoGRcQozHsqeu9Ahl2JW9Bsu8',
];

const bytesHex = (length, seed = 0) => hex(Buffer.from(Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff)));

function packetCases() {
    const fulfill = (name, fulfillment, dataHex, comment) => ({ name, type: 'fulfill', fulfillment, dataHex, ...(comment && { comment }) });
    const reject = (name, code, triggeredBy, message, dataHex, comment) => ({
        name, type: 'reject', code, triggeredBy, message, dataHex, ...(comment && { comment }),
    });
    const prepare = (name, amount, expiresAt, executionCondition, destination, dataHex, comment) => ({
        name, type: 'prepare', amount, expiresAt, executionCondition, destination, dataHex, ...(comment && { comment }),
    });
    const longAddress = 'g.' + Array.from({ length: 85 }, (_, i) => `seg${String(i).padStart(8, '0')}`).join('.') + '~~';
    if (longAddress.length !== 1023 || !ilpPacket.isValidIlpAddress(longAddress)) {
        throw new Error('the longest ILP address is 1023 bytes');
    }
    return [
        fulfill('fulfill-empty-data', FULFILMENTS[0], ''),
        fulfill('fulfill-zero-fulfilment', FULFILMENTS[1], '', 'preimage of condition Zmh6rfhivXdsj8GLjp-OIAiXFIVu4jOzkCpZHQ1fKSU'),
        fulfill('fulfill-short-data', FULFILMENTS[2], hex(Buffer.from('hello'))),
        fulfill('fulfill-127-bytes', FULFILMENTS[3], bytesHex(127), 'largest short-form length'),
        fulfill('fulfill-128-bytes', FULFILMENTS[0], bytesHex(128, 7), 'smallest long-form length 81 80'),
        fulfill('fulfill-256-bytes', FULFILMENTS[1], bytesHex(256, 3), 'two length bytes 82 01 00'),
        fulfill('fulfill-json-data', FULFILMENTS[3], hex(Buffer.from(JSON.stringify({ transferState: 'COMMITTED', note: UNICODE })))),
        reject('reject-f02-triggered-by', 'F02', 'g.payeefsp', 'Unreachable', ''),
        reject('reject-empty-triggered-by', 'T04', '', 'Insufficient liquidity', '', 'ILPv4 allows an empty triggeredBy'),
        reject('reject-empty-message', 'R00', 'g.mojaloop', '', ''),
        reject('reject-with-data', 'F99', 'test.connector.alice', 'application error', bytesHex(300, 11)),
        reject('reject-unicode-message', 'F08', 'g.fsp-A.msisdn.123_~', UNICODE, hex(Buffer.from('{"errorCode":"5105"}'))),
        reject('reject-long-message', 'T00', 'private.moneyd.local', ('Zoë 田中 😀 long message ').repeat(60), '',
            'message longer than 255 bytes: two-byte length prefix'),
        reject('reject-long-triggered-by', 'F01', longAddress, 'longest ILP address (1023 bytes)', bytesHex(1)),
        reject('reject-nonstandard-code', 'X42', 'g.a', 'codes need not be the standard ones', ''),
        prepare('prepare-g-mojaloop', '10050', '2030-01-01T00:00:00.000Z', 'zRrpjkDrbAa4Ow7b0AR-ThBAI7U25aV-LxcN1hjSzto', 'g.mojaloop', ''),
        prepare('prepare-u64-max', '18446744073709551615', '2030-06-30T23:59:59.999Z', FULFILMENTS[2], longAddress, bytesHex(200, 5)),
        prepare('prepare-zero', '0', '2000-02-29T00:00:00.001Z', FULFILMENTS[1], 'example.a', ''),
        prepare('prepare-year-9999', '1', '9999-12-31T23:59:59.999Z', FULFILMENTS[0], 'peer.x', bytesHex(1)),
    ];
}

function vectors() {
    const terms = [...termsCases(), ...fxCases()].map((input) => {
        const result = generateOne(input);
        if (!result.validateFulfil) {
            throw new Error(`${input.name}: the SDK does not validate its own fulfilment`);
        }
        const { name, comment, ...rest } = input;
        const ilp = sdkIlp(input.version, input.secret);
        const calculated = ilp.calculateFulfil(result.ilpPacket);
        if (calculated !== result.fulfilment) {
            throw new Error(`${input.name}: calculateFulfil disagrees with getResponseIlp`);
        }
        delete result.validateFulfil;
        // The golden file keeps the Transaction object (as decoded back from the packet) and
        // drops the quote request/response it was built from (they are above, in ilp.js).
        return { name, ...(comment && { comment }), version: rest.version, secret: rest.secret, ...result };
    });
    const quirks = quirkCases().map((input) => {
        const { name, comment, version, secret, quoteRequest, quoteResponse } = input;
        const transactionObject = transactionObjectDto(quoteRequest, quoteResponse);
        const sdk = attempt(() => {
            const result = generateOne(input);
            delete result.validateFulfil;
            delete result.transactionObject;
            return result;
        });
        return { name, comment, version, secret, transactionObject, sdk };
    });
    const packetsOut = packetCases().map((input) => {
        const { packet } = serializeOne(input);
        const back = deserializeOne({ packet });
        for (const key of Object.keys(back)) {
            const expected = key === 'expiresAt' ? new Date(input.expiresAt).toISOString() : input[key];
            if (key !== 'messageHex' && key !== 'type' && back[key] !== expected) {
                throw new Error(`${input.name}: ${key} does not round-trip through ilp-packet`);
            }
        }
        return { ...input, packet };
    });
    return {
        comment: 'Generated by interop/node/ilp.js (node ilp.js vectors); checked by crates/ilp/tests/sdk_vectors_*.rs. Do not edit by hand.',
        versions: VERSIONS,
        terms,
        quirks,
        packets: packetsOut,
    };
}

// ---------------------------------------------------------------------------------------------

/** Pretty at the top level, one compact line per vector: small, and diffs stay readable. */
function format(document) {
    const lines = ['{'];
    const keys = Object.keys(document);
    keys.forEach((key, index) => {
        const value = document[key];
        const comma = index + 1 < keys.length ? ',' : '';
        if (Array.isArray(value)) {
            lines.push(`  ${JSON.stringify(key)}: [`);
            value.forEach((item, i) => lines.push(`    ${JSON.stringify(item)}${i + 1 < value.length ? ',' : ''}`));
            lines.push(`  ]${comma}`);
        } else {
            lines.push(`  ${JSON.stringify(key)}: ${JSON.stringify(value)}${comma}`);
        }
    });
    lines.push('}');
    return lines.join('\n') + '\n';
}

/** All of stdin as JSON (read asynchronously: a pipe may be non-blocking, and then
 * `fs.readFileSync(0)` fails with EAGAIN). */
async function readStdinJson() {
    const chunks = [];
    for await (const chunk of process.stdin) {
        chunks.push(chunk);
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function main() {
    if (sdkIlpPacketPackage.version !== ilpPacketPackage.version) {
        throw new Error(`ilp-packet ${ilpPacketPackage.version} is not the SDK's ${sdkIlpPacketPackage.version}: `
            + 'pin the same version in package.json');
    }
    const [command, ...args] = process.argv.slice(2);
    const commands = { generate, validate, serialize, deserialize };
    if (command === 'vectors') {
        const at = args.indexOf('--out');
        const out = at >= 0 ? args[at + 1] : DEFAULT_OUT;
        const document = vectors();
        fs.mkdirSync(path.dirname(out), { recursive: true });
        fs.writeFileSync(out, format(document));
        process.stdout.write(`wrote ${document.terms.length} terms, ${document.quirks.length} quirk and `
            + `${document.packets.length} packet vectors to ${out}\n`);
    } else if (commands[command]) {
        process.stdout.write(JSON.stringify(commands[command](await readStdinJson())) + '\n');
    } else {
        process.stderr.write('usage: node ilp.js vectors [--out PATH] | generate | validate | serialize | deserialize\n');
        process.exit(2);
    }
}

// Requiring the SDK installs a logger that swallows uncaught exceptions (the process would
// exit 0), so failures are caught and turned into a non-zero exit here.
main().catch((error) => {
    process.stderr.write(`ilp.js: ${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
});
