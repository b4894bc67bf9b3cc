#!/usr/bin/env python3
"""Writes the hand-made fuzz seeds into fuzz/seeds/<target>/.

Re-running it overwrites only the files it names; corpus entries kept from fuzzing runs (and
crash-* reproducers) are left alone. The ILP vectors are the golden vectors of the FSPIOP
digest section 4.6 (sdk-standard-components 19.19.1, secret "secret").
"""

import base64
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


# ILPv1 Payment ilpPacket (685 bytes).
V1_ILP_PACKET = (
    "AYICqQAAAAAAACdCHWcucGF5ZWVmc3AubXNpc2RuLjI3NzEzODAzOTEyggJ_ZXlKaGJXOTFiblFpT25zaVlXMXZk"
    "VzUwSWpvaU1UQXdMalVpTENKamRYSnlaVzVqZVNJNklsVlRSQ0o5TENKbGVIQnBjbUYwYVc5dUlqb2lNakF6TUMw"
    "d01TMHdNVlF3TURvd01Eb3dNQzR3TURCYUlpd2ljR0Y1WldVaU9uc2ljR0Z5ZEhsSlpFbHVabThpT25zaVpuTndT"
    "V1FpT2lKd1lYbGxaV1p6Y0NJc0luQmhjblI1U1dSVWVYQmxJam9pVFZOSlUwUk9JaXdpY0dGeWRIbEpaR1Z1ZEds"
    "bWFXVnlJam9pTWpjM01UTTRNRE01TVRJaWZYMHNJbkJoZVdWeUlqcDdJbkJoY25SNVNXUkpibVp2SWpwN0ltWnpj"
    "RWxrSWpvaWNHRjVaWEptYzNBaUxDSndZWEowZVVsa1ZIbHdaU0k2SWsxVFNWTkVUaUlzSW5CaGNuUjVTV1JsYm5S"
    "cFptbGxjaUk2SWpRME1USXpORFUyTnpnNUluMTlMQ0p4ZFc5MFpVbGtJam9pT0dNeVlqSmtPR1l0TjJNeVpDMDBZ"
    "VFZsTFRsaE9HRXRNbUV6WWpsaU9HTXhaREF4SWl3aWRISmhibk5oWTNScGIyNUpaQ0k2SWpWbU1XSTNZVEpsTFRO"
    "ak5HUXROR1UxWmkwNFlUbGlMVEJqTVdReVpUTm1OR0UxWWlJc0luUnlZVzV6WVdOMGFXOXVWSGx3WlNJNmV5SnBi"
    "bWwwYVdGMGIzSWlPaUpRUVZsRlVpSXNJbWx1YVhScFlYUnZjbFI1Y0dVaU9pSkRUMDVUVlUxRlVpSXNJbk5qWlc1"
    "aGNtbHZJam9pVkZKQlRsTkdSVklpZlgwAA"
)
# ILPv4 Prepare ilpPacket (714 bytes).
V4_ILP_PACKET = (
    "DIICxgAAAAAAACdCMjAzMDAxMDEwMDAwMDAwMDDNGumOQOtsBrg7DtvQBH5OEEAjtTblpX4vFw3WGNLO2gpnLm1v"
    "amFsb29wggJ_ZXlKaGJXOTFiblFpT25zaVlXMXZkVzUwSWpvaU1UQXdMalVpTENKamRYSnlaVzVqZVNJNklsVlRS"
    "Q0o5TENKbGVIQnBjbUYwYVc5dUlqb2lNakF6TUMwd01TMHdNVlF3TURvd01Eb3dNQzR3TURCYUlpd2ljR0Y1WldV"
    "aU9uc2ljR0Z5ZEhsSlpFbHVabThpT25zaVpuTndTV1FpT2lKd1lYbGxaV1p6Y0NJc0luQmhjblI1U1dSVWVYQmxJ"
    "am9pVFZOSlUwUk9JaXdpY0dGeWRIbEpaR1Z1ZEdsbWFXVnlJam9pTWpjM01UTTRNRE01TVRJaWZYMHNJbkJoZVdW"
    "eUlqcDdJbkJoY25SNVNXUkpibVp2SWpwN0ltWnpjRWxrSWpvaWNHRjVaWEptYzNBaUxDSndZWEowZVVsa1ZIbHda"
    "U0k2SWsxVFNWTkVUaUlzSW5CaGNuUjVTV1JsYm5ScFptbGxjaUk2SWpRME1USXpORFUyTnpnNUluMTlMQ0p4ZFc5"
    "MFpVbGtJam9pT0dNeVlqSmtPR1l0TjJNeVpDMDBZVFZsTFRsaE9HRXRNbUV6WWpsaU9HTXhaREF4SWl3aWRISmhi"
    "bk5oWTNScGIyNUpaQ0k2SWpWbU1XSTNZVEpsTFROak5HUXROR1UxWmkwNFlUbGlMVEJqTVdReVpUTm1OR0UxWWlJ"
    "c0luUnlZVzV6WVdOMGFXOXVWSGx3WlNJNmV5SnBibWwwYVdGMGIzSWlPaUpRUVZsRlVpSXNJbWx1YVhScFlYUnZj"
    "bFI1Y0dVaU9pSkRUMDVUVlUxRlVpSXNJbk5qWlc1aGNtbHZJam9pVkZKQlRsTkdSVklpZlgw"
)


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def length_prefix(n):
    if n < 128:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def octets(raw):
    return length_prefix(len(raw)) + raw


def envelope(type_byte, contents):
    return bytes([type_byte]) + octets(contents)


def u64(n):
    return n.to_bytes(8, "big")


def write(target, name, content):
    # Key-looking names (.pem, .key) get a .txt suffix: these are fuzz inputs, not key files,
    # and key files outside test-data folders are flagged by the repository checks.
    if name.endswith((".pem", ".key")):
        name += ".txt"
    directory = os.path.join(ROOT, target)
    os.makedirs(directory, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    with open(os.path.join(directory, name), "wb") as f:
        f.write(content)


V1 = unb64url(V1_ILP_PACKET)
V4 = unb64url(V4_ILP_PACKET)
TS = b"20300101000000000"
ZERO32 = bytes(32)


def ilp_packet():
    t = "ilp_packet"
    write(t, "v1-payment-golden.bin", V1)
    write(t, "v4-prepare-golden.bin", V4)
    write(t, "payment-minimal.bin", envelope(1, u64(1) + octets(b"g.a") + octets(b"") + b"\x00"))
    write(t, "prepare-minimal.bin",
          envelope(12, u64(1) + TS + ZERO32 + octets(b"g.a") + octets(b"")))
    write(t, "prepare-data-128.bin",
          envelope(12, u64(2**64 - 1) + b"99991231235959999" + bytes(range(32))
                   + octets(b"test.hub.x~y_z-1") + octets(bytes(128))))
    write(t, "fulfill-empty-data.bin", envelope(13, ZERO32 + octets(b"")))
    write(t, "fulfill-hello.bin", envelope(13, bytes(range(32)) + octets(b"hello")))
    write(t, "reject-f02.bin",
          envelope(14, b"F02" + octets(b"g.hub") + octets(b"unreachable") + octets(b"")))
    write(t, "reject-no-trigger-unicode.bin",
          envelope(14, b"T99" + octets(b"") + octets("ünïcödé".encode()) + octets(b"\x01")))
    # Invalid: each breaks one rule the decoder enforces.
    write(t, "bad-empty.bin", b"")
    write(t, "bad-unknown-type.bin", envelope(2, b""))
    write(t, "bad-long-form-short-length.bin", b"\x0d\x81\x21" + ZERO32 + b"\x00")
    write(t, "bad-length-leading-zero.bin", b"\x0c\x83\x00" + V4[2:])
    write(t, "bad-indefinite-length.bin", b"\x0d\x80" + ZERO32)
    write(t, "bad-outer-trailing.bin", V1 + b"\x00\x00")
    write(t, "bad-inner-trailing.bin", envelope(13, ZERO32 + octets(b"") + b"\x00"))
    write(t, "bad-truncated-v4.bin", V4[:60])
    write(t, "bad-timestamp-month.bin", V4[:12] + b"20301301000000000" + V4[29:])
    write(t, "bad-extension-byte.bin", envelope(1, u64(1) + octets(b"g.a") + octets(b"") + b"\x80"))
    write(t, "bad-address-scheme.bin", envelope(1, u64(1) + octets(b"x.a") + octets(b"") + b"\x00"))
    write(t, "bad-reject-utf8.bin",
          envelope(14, b"F00" + octets(b"") + octets(b"\xc3") + octets(b"")))
    write(t, "bad-huge-length.bin", b"\x01\x88" + b"\xff" * 8 + b"\x00")


def ilp_base64():
    t = "ilp_base64"
    write(t, "v1-ilp-packet.txt", V1_ILP_PACKET)
    write(t, "v1-ilp-packet-padded.txt", V1_ILP_PACKET + "==")
    write(t, "v4-ilp-packet.txt", V4_ILP_PACKET)
    write(t, "v1-fulfilment.txt", "CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk")
    write(t, "v1-condition.txt", "Ln8_ebchR3AKKwycPW9Rg17_3u0LsusdbxGTnAMMp6c")
    write(t, "v4-fulfilment.txt", "I8UD5RlAgnc2p-o6nhfcGK8TWwSHvzxUF85ERrNtmyg")
    write(t, "v4-condition.txt", "zRrpjkDrbAa4Ow7b0AR-ThBAI7U25aV-LxcN1hjSzto")
    write(t, "zero-fulfilment.txt", "A" * 43)
    write(t, "spec-fulfilment.txt", "WLctttbu2HvTsa1XWvUoGRcQozHsqeu9Ahl2JW9Bsu8")
    write(t, "transaction-data.txt", V4[-639:])
    write(t, "fulfill-packet.txt", b64url(envelope(13, ZERO32 + octets(b""))))
    not_object = b64url(b"[1,2]").encode()
    write(t, "payment-data-not-object.txt",
          b64url(envelope(1, u64(1) + octets(b"g.a") + octets(not_object) + b"\x00")))
    not_json = b64url(b'{"amount":').encode()
    write(t, "prepare-data-not-json.txt",
          b64url(envelope(12, u64(1) + TS + ZERO32 + octets(b"g.a") + octets(not_json))))
    write(t, "bad-v1-wrong-padding.txt", V1_ILP_PACKET + "=")
    write(t, "bad-non-canonical-last-symbol.txt", "A" * 42 + "B")
    write(t, "bad-condition-padded.txt", "A" * 42 + "=")
    write(t, "bad-standard-alphabet.txt", "+/" + "A" * 41)
    write(t, "bad-length-mod-4.txt", "AAAAA")


TRANSFERS_CT = "application/vnd.interoperability.transfers+json;version=1.1"
TRANSFERS_ACCEPT = "application/vnd.interoperability.transfers+json;version=1"
DATE = "Wed, 01 Jan 2025 00:00:01 GMT"


def head(request_line, fields):
    return request_line + "\n" + "".join(f"{name}: {value}\n" for name, value in fields)


def fspiop_headers():
    t = "fspiop_headers"
    good = [
        ("Accept", TRANSFERS_ACCEPT),
        ("Content-Type", TRANSFERS_CT),
        ("Date", DATE),
        ("FSPIOP-Source", "payerfsp"),
        ("FSPIOP-Destination", "payeefsp"),
    ]

    def without(name):
        return [f for f in good if f[0] != name]

    def replaced(name, value):
        return without(name) + [(name, value)]

    write(t, "post-transfers-valid.txt", head("POST transfers 512", good))
    write(t, "put-transfers-callback-no-accept.txt", head("PUT transfers 300", without("Accept")))
    write(t, "put-transfers-star-accept.txt", head("PUT transfers 300", replaced("Accept", "*/*")))
    write(t, "get-parties-valid.txt", head("GET parties 0", [
        ("accept", "application/vnd.interoperability.parties+json;version=1.1, "
                   "application/vnd.interoperability.parties+json;version=2"),
        ("content-type", "application/vnd.interoperability.parties+json;version=1.0"),
        ("date", "Tue, 15 Nov 1994 08:12:31 GMT"),
        ("fspiop-source", "payer-fsp_1.x"),
    ]))
    write(t, "post-quotes-spaces-around-semicolon.txt", head("POST quotes 10", [
        ("Accept", "application/vnd.interoperability.quotes+json ; version=1"),
        ("Content-Type", "application/vnd.interoperability.quotes+json ; version=1.1"),
        ("Date", DATE),
        ("FSPIOP-Source", "payerfsp"),
    ]))
    write(t, "accept-no-version.txt", head(
        "DELETE participants 0",
        [("Accept", "application/vnd.interoperability.participants+json"),
         ("Content-Type", "application/vnd.interoperability.participants+json;version=1.1"),
         ("Date", DATE), ("FSPIOP-Source", "payerfsp")]))
    write(t, "bad-missing-accept.txt", head("POST transfers 512", without("Accept")))
    write(t, "bad-accept-json.txt", head("POST transfers 512", replaced("Accept", "application/json")))
    write(t, "bad-accept-v2.txt", head("POST transfers 512", replaced(
        "Accept", "application/vnd.interoperability.transfers+json;version=2")))
    write(t, "bad-missing-date.txt", head("POST transfers 512", without("Date")))
    write(t, "bad-date-rfc3339.txt", head("POST transfers 512", replaced("Date", "2025-01-01T00:00:01Z")))
    write(t, "bad-date-rfc850.txt", head("POST transfers 512", replaced(
        "Date", "Wednesday, 01-Jan-25 00:00:01 GMT")))
    write(t, "bad-too-large.txt", head("POST transfers 5242881", good))
    write(t, "bad-missing-content-type.txt", head("POST transfers 512", without("Content-Type")))
    write(t, "bad-content-type-no-minor.txt", head("POST transfers 512", replaced(
        "Content-Type", "application/vnd.interoperability.transfers+json;version=1")))
    write(t, "bad-content-type-v2.txt", head("POST transfers 512", replaced(
        "Content-Type", "application/vnd.interoperability.transfers+json;version=2.0")))
    write(t, "bad-content-type-other-resource.txt", head("POST transfers 512", replaced(
        "Content-Type", "application/vnd.interoperability.quotes+json;version=1.1")))
    write(t, "bad-version-overflow.txt", head("POST transfers 512", replaced(
        "Content-Type", "application/vnd.interoperability.transfers+json;version=1.256")))
    write(t, "bad-missing-source.txt", head("POST transfers 512", without("FSPIOP-Source")))
    write(t, "bad-source-space.txt", head("POST transfers 512", replaced("FSPIOP-Source", "bad name")))
    write(t, "bad-source-too-long.txt", head("POST transfers 512", replaced("FSPIOP-Source", "a" * 33)))
    write(t, "bad-destination-unicode.txt", head("POST transfers 512", replaced(
        "FSPIOP-Destination", "päyeefsp")))


def fspiop_values():
    t = "fspiop_values"
    cases = {
        "amount-zero": "0",
        "amount-integer": "100",
        "amount-fraction": "123.45",
        "amount-smallest": "0.0001",
        "amount-largest": "999999999999999999.9999",
        "amount-lenient-trailing-zero": "1.50",
        "amount-bad-leading-zero": "01",
        "amount-bad-too-many-decimals": "1.12345",
        "amount-bad-negative": "-1",
        "amount-bad-exponent": "1e3",
        "amount-bad-19-digits": "1000000000000000000",
        "datetime-utc": "2016-05-24T08:38:08.699Z",
        "datetime-offset": "2016-05-24T10:38:08.699+02:00",
        "datetime-leap-day": "2024-02-29T23:59:59.999-23:59",
        "datetime-bad-no-millis": "2016-05-24T08:38:08Z",
        "datetime-bad-feb-30": "2016-02-30T08:38:08.699Z",
        "datetime-bad-micros": "2016-05-24T08:38:08.699999Z",
        "correlation-id": "b51ec534-ee48-4575-b6a9-ead2955b8069",
        "correlation-id-bad-upper": "B51EC534-EE48-4575-B6A9-EAD2955B8069",
        "correlation-id-bad-v6": "b51ec534-ee48-6575-b6a9-ead2955b8069",
        "fsp-id": "payerfsp",
        "fsp-id-max": "a" * 32,
        "fsp-id-bad-space": "a b",
        "currency": "USD",
        "imf-fixdate": DATE,
        "imf-fixdate-wrong-weekday": "Mon, 01 Jan 2025 00:00:01 GMT",
        "imf-fixdate-bad-rfc850": "Wednesday, 01-Jan-25 00:00:01 GMT",
        "imf-fixdate-bad-asctime": "Wed Jan  1 00:00:01 2025",
    }
    for name, text in cases.items():
        write(t, name + ".txt", text)


ID1 = "b51ec534-ee48-4575-b6a9-ead2955b8069"
ID2 = "5f1b7a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
ID3 = "8c2b2d8f-7c2d-4a5e-9a8a-2a3b9b8c1d01"
NOW = "2016-05-24T08:38:08.699-04:00"


def money(amount, currency="USD"):
    return {"currency": currency, "amount": amount}


def party_id_info(fsp="payerfsp"):
    return {"partyIdType": "MSISDN", "partyIdentifier": "16135551212", "fspId": fsp}


def party():
    return {
        "partyIdInfo": party_id_info(),
        "merchantClassificationCode": "4321",
        "name": "Henrik Karlsson",
        "personalInfo": {
            "complexName": {"firstName": "Henrik", "middleName": "Johannes", "lastName": "Karlsson"},
            "dateOfBirth": "1966-06-16",
        },
    }


def extension_list(n):
    return {"extension": [{"key": f"k{i}", "value": f"v{i}"} for i in range(n)]}


TRANSACTION_TYPE = {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"}


def bodies():
    transfers_post = {
        "transferId": ID1,
        "payerFsp": "payerfsp",
        "payeeFsp": "payeefsp",
        "amount": money("100.5"),
        "ilpPacket": V4_ILP_PACKET,
        "condition": "zRrpjkDrbAa4Ow7b0AR-ThBAI7U25aV-LxcN1hjSzto",
        "expiration": "2030-01-01T00:00:00.000Z",
        "extensionList": extension_list(2),
    }
    quotes_post = {
        "quoteId": ID3,
        "transactionId": ID2,
        "payee": {"partyIdInfo": party_id_info("payeefsp")},
        "payer": party(),
        "amountType": "SEND",
        "amount": money("100.5"),
        "transactionType": TRANSACTION_TYPE,
        "geoCode": {"latitude": "+45.4215", "longitude": "-75.6972"},
        "note": "a note",
        "expiration": NOW,
    }
    return {
        "parties-put": {"party": party()},
        "participants-post": {"fspId": "payeefsp", "currency": "EUR"},
        "participants-batch-post": {"requestId": ID1, "partyList": [party_id_info()], "currency": "USD"},
        "participants-put": {"fspId": "payeefsp"},
        "quotes-post": quotes_post,
        "quotes-put": {
            "transferAmount": money("100.5"),
            "payeeReceiveAmount": money("100"),
            "payeeFspFee": money("0.5"),
            "expiration": "2030-01-01T00:00:00.000Z",
            "ilpPacket": V4_ILP_PACKET,
            "condition": "zRrpjkDrbAa4Ow7b0AR-ThBAI7U25aV-LxcN1hjSzto",
        },
        "transfers-post": transfers_post,
        "transfers-put": {
            "fulfilment": "I8UD5RlAgnc2p-o6nhfcGK8TWwSHvzxUF85ERrNtmyg",
            "completedTimestamp": "2016-05-24T08:38:08.699Z",
            "transferState": "COMMITTED",
        },
        "transfers-patch": {"completedTimestamp": "2016-05-24T08:38:08.699Z", "transferState": "COMMITTED"},
        "error-put": {"errorInformation": {
            "errorCode": "5100", "errorDescription": "Generic Payee rejection",
            "extensionList": extension_list(1)}},
        "transaction-requests-post": {
            "transactionRequestId": ID1,
            "payee": {"partyIdInfo": party_id_info("payeefsp")},
            "payer": {"partyIdType": "MSISDN", "partyIdentifier": "16135551212"},
            "amount": money("5"),
            "transactionType": {"scenario": "WITHDRAWAL", "initiator": "PAYEE", "initiatorType": "AGENT"},
        },
        "authorizations-put": {"authenticationInfo": {"authentication": "OTP", "authenticationValue": "1234"},
                               "responseType": "ENTERED"},
        "bulk-transfers-put": {"completedTimestamp": NOW, "bulkTransferState": "COMPLETED"},
        "transactions-put": {"transactionState": "COMPLETED", "code": "Test1234"},
        # Invalid bodies: one rule each.
        "bad-missing-transfer-id": {k: v for k, v in transfers_post.items() if k != "transferId"},
        "bad-amount-number": dict(transfers_post, amount={"currency": "USD", "amount": 100.5}),
        "bad-amount-trailing-zero": dict(transfers_post, amount=money("1.50")),
        "bad-uppercase-uuid": dict(transfers_post, transferId=ID1.upper()),
        "bad-17-extensions": dict(transfers_post, extensionList=extension_list(17)),
        "bad-empty-extension-list": dict(transfers_post, extensionList={"extension": []}),
        "bad-blank-first-name": {"party": dict(party(), personalInfo={"complexName": {"firstName": "   "}})},
        "bad-feb-29-non-leap": dict(transfers_post, expiration="2023-02-29T00:00:00.000Z"),
        "bad-weird-keys": {"a~b/c": {"\n": [None, True, -0.0, 1e300]}, "transferId": 7},
    }


def fspiop_schema():
    t = "fspiop_schema"
    for name, body in bodies().items():
        write(t, name + ".json", json.dumps(body, indent=1, ensure_ascii=False))
    write(t, "bad-array-body.json", "[]")
    write(t, "bad-string-body.json", '"transfers"')
    write(t, "bad-null-body.json", "null")


def canonical_json():
    t = "canonical_json"
    write(t, "transaction-sdk-order.json", json.dumps({
        "quoteId": ID3, "transactionId": ID2, "transactionType": TRANSACTION_TYPE,
        "payee": {"partyIdInfo": party_id_info("payeefsp")},
        "payer": {"partyIdInfo": party_id_info()},
        "expiration": "2030-01-01T00:00:00.000Z", "amount": {"currency": "USD", "amount": "100.5"},
    }, indent=2))
    write(t, "transfers-post.json", json.dumps(bodies()["transfers-post"]))
    write(t, "nested-whitespace.json", ' { "b" : 1 ,\n "a" : { "z" : [ { "y" : 2 , "x" : 1 } ] , "c" : "\\u00e9\\n" } } ')
    write(t, "numbers.json", '[0, -0, -0.0, 1e300, 1E-300, 0.1, 5e-324, 1.7976931348623157e308, '
                             '18446744073709551615, -9223372036854775808, 18446744073709551616, '
                             '123456789012345678901234567890, 2.5e-7, 100.50]')
    write(t, "strings.json", '{"\\ud83d\\ude00": "\\u0000\\u001f\\"\\\\\\/", "\\u007f": "\\u2028\\u2029", '
                             '"é": "é", "E": "e"}')
    write(t, "duplicate-keys.json", '{"a": 1, "a": 2, "b": {"a": [], "a": {}}}')
    write(t, "scalars.json", "true")
    write(t, "deep.json", "[" * 100 + "{}" + "]" * 100)


def hub_path():
    t = "hub_path"
    paths = {
        "transfers-collection": "/transfers",
        "transfers-item": "/transfers/" + ID1,
        "transfers-item-error": "/transfers/" + ID1 + "/error",
        "parties": "/parties/MSISDN/16135551212",
        "parties-sub-id": "/parties/MSISDN/16135551212/sub",
        "parties-error": "/parties/MSISDN/16135551212/error",
        "parties-sub-id-error": "/parties/BUSINESS/acme/sub/error",
        "participants-batch-error": "/participants/" + ID1 + "/error",
        "prefixed": "/api/fspiop/v1/quotes/" + ID3,
        "percent-encoded": "/parties/MSISDN/%2B44%2012%2f3",
        "percent-invalid-utf8": "/parties/EMAIL/%e2%82/%ff",
        "percent-truncated": "/quotes/abc%2",
        "percent-sign-in-hex": "/quotes/%+1",
        "double-slashes": "//bulkTransfers//x//",
        "bad-unknown": "/unknown/thing",
        "bad-too-deep": "/transfers/a/b/c",
        "bad-empty": "",
        "query-string": "/transactionRequests/x?y=z#f",
    }
    for name, path in paths.items():
        write(t, name + ".txt", path)


# FSPIOP JWS (fspiop.md section 3.5 worked example; the oracle in src/jws_oracle.rs verifies
# against the same request, body and keys).
JWS_URI = "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069"
JWS_BODY = (b'{"completedTimestamp":"2025-01-01T00:00:01.000Z",'
            b'"fulfilment":"CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk","transferState":"COMMITTED"}')
RS256_PROTECTED = (
    "eyJhbGciOiJSUzI1NiIsIkZTUElPUC1VUkkiOiIvdHJhbnNmZXJzL2I1MWVjNTM0LWVlNDgtNDU3NS1iNmE5LWVh"
    "ZDI5NTViODA2OSIsIkZTUElPUC1IVFRQLU1ldGhvZCI6IlBVVCIsIkZTUElPUC1Tb3VyY2UiOiJwYXllZWZzcCIs"
    "IkZTUElPUC1EZXN0aW5hdGlvbiI6InBheWVyZnNwIiwiRGF0ZSI6IldlZCwgMDEgSmFuIDIwMjUgMDA6MDA6MDEg"
    "R01UIn0"
)
RS256_SIGNATURE = (
    "nM2XS5uad8CjTtc9dyytO9s_lKIpY8rU4Z-k_QSul9877AC8Er6oXTcxaKKpzC6PT8eIOI6Ira52r_ds6CpzvVsz"
    "BtDlH6xSiZYVGQiSGa6CqTmhrjKopHZ79cTSGU6MsSRd-El_HXDSAYxVVNyVdf4ItCpX0WXHksyO_vX5Le7ltc6c"
    "cgDh5hP4tmHsxagYJfDkSekX3ICXgC0zftxzYdgE0lAX--UOnsgekGTJi_In5gpweR3hbY4Ms-Q8pve83yChaC8-"
    "qu6OUYj1pQDF243ZVwr4cv3BZHa_FN0V6kFM-sIvelbo9YCGh5EKh36zg16A48-lrYcNoqjfRTMjSA"
)
# ES256 by crates/jws/testdata/vectors/p256.pkcs8.key.pem over the same request and body, made
# once with Python `cryptography` (ECDSA is randomised, so it is pasted, not recomputed), and
# the same signature with s replaced by n - s.
ES256_SIGNATURE = "NkWx-td4BH06GclYFzpl6bNn7acFw1Ubm9klhUAGrKr3Cv4q7sIpy5SUS62y167T0NII0zBUJ1HkNUaSrIdtjA"
ES256_SIGNATURE_HIGH_S = (
    "NkWx-td4BH06GclYFzpl6bNn7acFw1Ubm9klhUAGrKoI9QHUET3WNWtrtFJNKFEr7BTx2nbDdzMPhIQwT9u3xQ")
JWS_VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "..", "crates", "jws", "testdata", "vectors")


def protected(alg="RS256", **overrides):
    """The worked example's protected header members, in the SDK's order, with overrides
    (None drops a member)."""
    members = {
        "alg": alg,
        "FSPIOP-URI": JWS_URI,
        "FSPIOP-HTTP-Method": "PUT",
        "FSPIOP-Source": "payeefsp",
        "FSPIOP-Destination": "payerfsp",
        "Date": DATE,
    }
    for name, value in overrides.items():
        name = name.replace("_", "-")
        if value is None:
            members.pop(name, None)
        else:
            members[name] = value
    return members


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def signature_header(protected_json, signature=RS256_SIGNATURE):
    if not isinstance(protected_json, bytes):
        protected_json = protected_json.encode()
    return compact({"protectedHeader": b64url(protected_json), "signature": signature})


def jws_signature():
    t = "jws_signature"
    worked = compact({"protectedHeader": RS256_PROTECTED, "signature": RS256_SIGNATURE})
    es256_protected = b64url(compact(protected("ES256")).encode())
    write(t, "worked-example.txt", worked)
    write(t, "es256.txt", compact({"protectedHeader": es256_protected, "signature": ES256_SIGNATURE}))
    write(t, "es256-high-s.txt",
          compact({"protectedHeader": es256_protected, "signature": ES256_SIGNATURE_HIGH_S}))
    write(t, "worked-example-spaced-extra-members.txt",
          '\t{ "signature" : "%s" ,\n "kid": "payeefsp-1", "x5t": null,\n "protectedHeader": "%s" }\r\n'
          % (RS256_SIGNATURE, RS256_PROTECTED))
    write(t, "worked-example-escaped.txt", worked.replace('":"eyJ', '":"\\u0065\\u0079J', 1)
          .replace('"signature":"nM', '"signature":"\\u006eM'))
    # The decoded protected headers, as such: wrapped by the oracle they verify.
    write(t, "protected-worked-example.json", compact(protected()))
    write(t, "protected-es256.json", compact(protected("ES256")))
    write(t, "protected-extra-members.json",
          json.dumps(dict(protected(), kid="k1", x={"y": [1, 2.50, "\u00e9"]}), indent=1))
    # Protected header variants inside a header value.
    variants = {
        "missing-alg": protected(alg=None),
        "alg-hs256": protected("HS256"),
        "alg-none": protected("none"),
        "alg-lowercase": protected("rs256"),
        "alg-not-string": protected(256),
        "crit": dict(protected(), crit=["b64"]),
        "missing-uri": protected(FSPIOP_URI=None),
        "empty-source": protected(FSPIOP_Source=""),
        "no-destination": protected(FSPIOP_Destination=None),
        "no-date": protected(Date=None),
        "other-date": protected(Date="Thu, 02 Jan 2025 00:00:01 GMT"),
        "lowercase-method": protected(FSPIOP_HTTP_Method="put"),
        "uri-with-query": protected(FSPIOP_URI=JWS_URI + "?a=b"),
        "unicode-source": protected(FSPIOP_Source="päyeefsp\u2028"),
        "nested-other": dict(protected(), ext={"a": [{"b": [None, True, -0.0, 1e300]}]}),
    }
    for name, members in variants.items():
        write(t, "protected-" + name + ".txt", signature_header(compact(members)))
    write(t, "protected-duplicate-alg.txt",
          signature_header('{"alg":"RS256",' + compact(protected())[1:]))
    write(t, "protected-not-utf8.txt", signature_header(b"{\"alg\":\"\xff\"}"))
    write(t, "protected-array.txt", signature_header("[]"))
    write(t, "protected-not-json.txt", signature_header("{\"alg\":"))
    # Header value shapes.
    write(t, "bad-empty.txt", "")
    write(t, "bad-whitespace.txt", " \t ")
    write(t, "bad-missing-signature.txt", compact({"protectedHeader": RS256_PROTECTED}))
    write(t, "bad-missing-protected-header.txt", compact({"signature": RS256_SIGNATURE}))
    write(t, "bad-empty-signature.txt", compact({"protectedHeader": RS256_PROTECTED, "signature": ""}))
    write(t, "bad-duplicate-signature.txt", '{"protectedHeader":"%s","signature":"AA","signature":"%s"}'
          % (RS256_PROTECTED, RS256_SIGNATURE))
    write(t, "bad-signature-not-string.txt", '{"protectedHeader":"e30","signature":["AAEC"]}')
    write(t, "bad-array.txt", '["%s","%s"]' % (RS256_PROTECTED, RS256_SIGNATURE))
    write(t, "bad-string.txt", '"%s.%s"' % (RS256_PROTECTED, RS256_SIGNATURE))
    write(t, "bad-null.txt", "null")
    write(t, "bad-compact-jws.txt", RS256_PROTECTED + "." + b64url(JWS_BODY) + "." + RS256_SIGNATURE)
    write(t, "bad-flattened-jws.txt", compact({"protected": RS256_PROTECTED, "payload": b64url(JWS_BODY),
                                               "signature": RS256_SIGNATURE}))
    write(t, "bad-trailing-garbage.txt", worked + "}")
    write(t, "bad-padded-base64.txt", worked.replace('"}', '=="}'))
    write(t, "bad-standard-alphabet.txt", worked.replace("-", "+").replace("_", "/"))
    write(t, "bad-non-canonical-last-symbol.txt",
          compact({"protectedHeader": "e31", "signature": ES256_SIGNATURE}))
    write(t, "bad-base64-length.txt", compact({"protectedHeader": "e30", "signature": "AAAAA"}))
    write(t, "bad-base64-unicode.txt", compact({"protectedHeader": "e30é", "signature": "AAEC"}))
    write(t, "bad-signature-too-long.txt", compact({"protectedHeader": "e30", "signature": "A" * 684}))
    write(t, "bad-protected-header-too-long.txt",
          compact({"protectedHeader": b64url(b"{" + b" " * 24575 + b"}") + "AAAA", "signature": "AA"}))
    write(t, "bad-es256-short-signature.txt",
          compact({"protectedHeader": es256_protected, "signature": ES256_SIGNATURE[:-4]}))
    write(t, "bad-rs256-zero-signature.txt", signature_header(compact(protected()), b64url(bytes(256))))
    write(t, "bad-deep-extra-member.txt",
          '{"protectedHeader":"e30","signature":"AA","x":' + "[" * 200 + "]" * 200 + "}")
    write(t, "bad-lone-surrogate-key.txt", '{"\\ud800":1,"protectedHeader":"e30","signature":"AA"}')
    write(t, "bad-bom.txt", "\ufeff" + worked)
    write(t, "bad-not-utf8.txt", b"\xff" + worked.encode())
    # Dates, for the freshness check the same oracle runs on the input.
    write(t, "date-worked-example.txt", DATE)
    write(t, "date-wrong-weekday.txt", "Thu, 01 Jan 2025 00:00:01 GMT")
    write(t, "date-epoch.txt", "Thu, 01 Jan 1970 00:00:00 GMT")
    write(t, "date-year-9999.txt", "Fri, 31 Dec 9999 23:59:59 GMT")
    write(t, "date-rfc850.txt", "Wednesday, 01-Jan-25 00:00:01 GMT")


def pem(label, der, width=64):
    text = base64.b64encode(der).decode()
    lines = "".join(text[i:i + width] + "\n" for i in range(0, len(text), width))
    return f"-----BEGIN {label}-----\n{lines}-----END {label}-----\n"


def der_tlv(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        body = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(body)]) + body
    return bytes([tag]) + length + content


def unpem(text):
    body = text.split("-----", 2)[2].split("-----END", 1)[0]
    return base64.b64decode("".join(body.split()))


RSA_OID = bytes.fromhex("2a864886f70d010101")


def rsa_spki(modulus, exponent=b"\x01\x00\x01"):
    pkcs1 = der_tlv(0x30, der_tlv(0x02, modulus) + der_tlv(0x02, exponent))
    algorithm = der_tlv(0x30, der_tlv(0x06, RSA_OID) + der_tlv(0x05, b""))
    return der_tlv(0x30, algorithm + der_tlv(0x03, b"\x00" + pkcs1))


def jws_key_pem():
    t = "jws_key_pem"

    def vector(name):
        with open(os.path.join(JWS_VECTORS, name)) as f:
            return f.read()

    for name in ["fspiop-3.5-rsa2048.pub.pem", "fspiop-3.5-rsa2048.pkcs1.pub.pem",
                 "fspiop-3.5-rsa2048.cert.pem", "fspiop-3.5-rsa2048.pkcs1.key.pem",
                 "p256.pub.pem", "p256.cert.pem", "p256.pkcs8.key.pem",
                 "p256-with-params.sec1.key.pem", "p256.encrypted.key.pem", "rsa1024.pub.pem",
                 "p384.pub.pem", "p384.sec1.key.pem", "secp256k1.pub.pem", "ed25519.pub.pem"]:
        write(t, name, vector(name))
    p256_pub = vector("p256.pub.pem")
    p256_key = vector("p256.pkcs8.key.pem")
    cert = vector("p256.cert.pem")
    # Raw DER, for the DER loaders and the oracle's own PEM wrapping.
    write(t, "p256.spki.der", unpem(p256_pub))
    write(t, "p256.pkcs8.der", unpem(p256_key))
    write(t, "p256.cert.der", unpem(cert))
    write(t, "p256.sec1.der", unpem(vector("p256-with-params.sec1.key.pem").split("-----END EC PARAMETERS-----")[1]))
    write(t, "rsa2048.pkcs1.pub.der", unpem(vector("fspiop-3.5-rsa2048.pkcs1.pub.pem")))
    # Shapes: each breaks one PEM or DER rule.
    write(t, "bad-truncated.pem", p256_pub[:70])
    write(t, "bad-truncated-base64.pem", p256_pub.replace("NDeNw==", ""))
    write(t, "bad-mismatched-labels.pem", p256_pub.replace("END PUBLIC KEY", "END PRIVATE KEY"))
    write(t, "bad-private-label-on-public.pem", p256_pub.replace("PUBLIC KEY", "PRIVATE KEY"))
    write(t, "bad-x509-label.pem", cert.replace("CERTIFICATE", "X509 CERTIFICATE"))
    write(t, "bad-garbage-base64.pem", "-----BEGIN PUBLIC KEY-----\nA*A=AA==\n-----END PUBLIC KEY-----\n")
    write(t, "bad-empty-body.pem", "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n")
    write(t, "bad-label-newline.pem", "-----BEGIN PUBLIC\nKEY-----\nAAAA\n-----END PUBLIC\nKEY-----\n")
    write(t, "bad-proc-type.pem", "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
                                  "DEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n")
    write(t, "bad-17-blocks.pem", "-----BEGIN X-----\nAAAA\n-----END X-----\n" * 17)
    write(t, "crlf-with-text.pem", "Subject: CN=payeefsp\r\n" + p256_pub.replace("\n", "\r\n") + "trailer")
    write(t, "bad-unicode-label.pem", "-----BEGIN PUBLIC KÉY-----\nAAAA\n-----END PUBLIC KÉY-----\n")
    write(t, "bad-rsa-4097-bits.pem", pem("PUBLIC KEY", rsa_spki(b"\x01" + b"\xff" * 512)))
    write(t, "rsa-all-ones-modulus-e3.pem", pem("PUBLIC KEY", rsa_spki(b"\x00" + b"\xff" * 256, b"\x03")))
    write(t, "bad-rsa-negative-modulus.der", rsa_spki(b"\xff" * 256))
    long_oid = der_tlv(0x30, der_tlv(0x30, der_tlv(0x06, b"\x2a" + b"\x81\x01" * 600)) + der_tlv(0x03, b"\x00"))
    write(t, "bad-long-oid.der", long_oid)
    write(t, "bad-long-oid.pem", pem("PUBLIC KEY", long_oid))
    write(t, "bad-malformed-long-oid.der",
          der_tlv(0x30, der_tlv(0x30, der_tlv(0x06, b"\x80" * 600)) + der_tlv(0x03, b"\x00")))
    write(t, "bad-indefinite-length.der", b"\x30\x80" + unpem(p256_pub)[2:] + b"\x00\x00")


def jws_canonical():
    t = "jws_canonical"
    write(t, "worked-example-body.json", JWS_BODY)
    write(t, "js-key-order.json", '{"b":1,"10":2,"2":3,"a":4,"4294967295":5,"01":6,"__proto__":7,"":8}')
    write(t, "utf16-key-order.json", '{"\\uffff":1,"\\ud83d\\ude00":2,"\\u00e9":3,"z":4}')
    write(t, "js-numbers.json", "[1e21, 1e20, 123e-20, 1e-7, 0.000001, 1.5e300, -1e-300, 5e-324, "
                                "2.4703282292062328e-324, 9007199254740993, 0.1e1, 100.50, -0, 1E+2]")
    write(t, "number-overflow.json", '{"a":1e400,"b":-1e400}')
    write(t, "escapes.json", '"\\u0000\\u001f\\u007f\\u2028\\/\\b\\f\\n\\r\\t\\"\\\\"')
    write(t, "duplicate-keys.json", '{"a":1,"b":2,"a":{"c":3,"c":[4]}}')
    write(t, "depth-128.json", "[" * 128 + "]" * 128)
    write(t, "depth-129.json", "[" * 129 + "]" * 129)
    write(t, "bad-lone-surrogate.json", '{"a":"\\ud800"}')
    write(t, "bad-reversed-surrogates.json", '"\\udc00\\ud800"')
    write(t, "bad-surrogate-then-escape.json", '"\\ud83d\\n"')
    write(t, "bad-leading-zero.json", "[01]")
    write(t, "bad-bom.json", "\ufeff{}")
    write(t, "bad-not-utf8.json", b'"\xc3"')
    write(t, "bad-trailing-comma.json", "[1,]")


def main():
    targets = [ilp_packet, ilp_base64, fspiop_headers, fspiop_values, fspiop_schema,
               canonical_json, hub_path, jws_signature, jws_key_pem, jws_canonical]
    for target in targets:
        target()
    return 0


if __name__ == "__main__":
    sys.exit(main())
