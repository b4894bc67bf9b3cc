//! Golden vectors from the FSPIOP digest §4.6, produced with sdk-standard-components 19.19.1
//! (secret `secret`).

/// The SDK's ILP secret for these vectors.
pub const SECRET: &[u8] = b"secret";

/// The quote response `expiration` (also the Transaction's `expiration`).
pub const EXPIRATION: &str = "2030-01-01T00:00:00.000Z";

/// Canonical Transaction JSON (479 bytes).
pub const TRANSACTION_JSON: &str = concat!(
    r#"{"amount":{"amount":"100.5","currency":"USD"},"expiration":"2030-01-01T00:00:00."#,
    r#"000Z","payee":{"partyIdInfo":{"fspId":"payeefsp","partyIdType":"MSISDN","partyId"#,
    r#"entifier":"27713803912"}},"payer":{"partyIdInfo":{"fspId":"payerfsp","partyIdTyp"#,
    r#"e":"MSISDN","partyIdentifier":"44123456789"}},"quoteId":"8c2b2d8f-7c2d-4a5e-9a8a"#,
    r#"-2a3b9b8c1d01","transactionId":"5f1b7a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b","transacti"#,
    r#"onType":{"initiator":"PAYER","initiatorType":"CONSUMER","scenario":"TRANSFER"}}"#,
);

/// The Transaction as a DFSP would build it (fields in FSPIOP order, not sorted).
pub fn transaction() -> serde_json::Value {
    serde_json::json!({
        "quoteId": "8c2b2d8f-7c2d-4a5e-9a8a-2a3b9b8c1d01",
        "transactionId": "5f1b7a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
        "transactionType": {
            "scenario": "TRANSFER",
            "initiator": "PAYER",
            "initiatorType": "CONSUMER"
        },
        "payee": {
            "partyIdInfo": {
                "partyIdType": "MSISDN",
                "partyIdentifier": "27713803912",
                "fspId": "payeefsp"
            }
        },
        "payer": {
            "partyIdInfo": {
                "partyIdType": "MSISDN",
                "partyIdentifier": "44123456789",
                "fspId": "payerfsp"
            }
        },
        "expiration": "2030-01-01T00:00:00.000Z",
        "amount": { "currency": "USD", "amount": "100.5" }
    })
}

/// ILPv1 Payment `ilpPacket` (685 bytes).
pub const V1_ILP_PACKET: &str = concat!(
    "AYICqQAAAAAAACdCHWcucGF5ZWVmc3AubXNpc2RuLjI3NzEzODAzOTEyggJ_ZXlKaGJXOTFiblFpT25zaVlXMXZk",
    "VzUwSWpvaU1UQXdMalVpTENKamRYSnlaVzVqZVNJNklsVlRSQ0o5TENKbGVIQnBjbUYwYVc5dUlqb2lNakF6TUMw",
    "d01TMHdNVlF3TURvd01Eb3dNQzR3TURCYUlpd2ljR0Y1WldVaU9uc2ljR0Z5ZEhsSlpFbHVabThpT25zaVpuTndT",
    "V1FpT2lKd1lYbGxaV1p6Y0NJc0luQmhjblI1U1dSVWVYQmxJam9pVFZOSlUwUk9JaXdpY0dGeWRIbEpaR1Z1ZEds",
    "bWFXVnlJam9pTWpjM01UTTRNRE01TVRJaWZYMHNJbkJoZVdWeUlqcDdJbkJoY25SNVNXUkpibVp2SWpwN0ltWnpj",
    "RWxrSWpvaWNHRjVaWEptYzNBaUxDSndZWEowZVVsa1ZIbHdaU0k2SWsxVFNWTkVUaUlzSW5CaGNuUjVTV1JsYm5S",
    "cFptbGxjaUk2SWpRME1USXpORFUyTnpnNUluMTlMQ0p4ZFc5MFpVbGtJam9pT0dNeVlqSmtPR1l0TjJNeVpDMDBZ",
    "VFZsTFRsaE9HRXRNbUV6WWpsaU9HTXhaREF4SWl3aWRISmhibk5oWTNScGIyNUpaQ0k2SWpWbU1XSTNZVEpsTFRO",
    "ak5HUXROR1UxWmkwNFlUbGlMVEJqTVdReVpUTm1OR0UxWWlJc0luUnlZVzV6WVdOMGFXOXVWSGx3WlNJNmV5SnBi",
    "bWwwYVdGMGIzSWlPaUpRUVZsRlVpSXNJbWx1YVhScFlYUnZjbFI1Y0dVaU9pSkRUMDVUVlUxRlVpSXNJbk5qWlc1",
    "aGNtbHZJam9pVkZKQlRsTkdSVklpZlgwAA",
);
/// ILPv1 fulfilment.
pub const V1_FULFILMENT: &str = "CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk";
/// ILPv1 fulfilment as hex.
pub const V1_FULFILMENT_HEX: &str =
    "0a27a24f1b9c102a9b9c4d47cebebb81a4ef44d5039f743a0396c715289b6a99";
/// ILPv1 condition.
pub const V1_CONDITION: &str = "Ln8_ebchR3AKKwycPW9Rg17_3u0LsusdbxGTnAMMp6c";

/// ILPv4 Prepare `ilpPacket` (714 bytes).
pub const V4_ILP_PACKET: &str = concat!(
    "DIICxgAAAAAAACdCMjAzMDAxMDEwMDAwMDAwMDDNGumOQOtsBrg7DtvQBH5OEEAjtTblpX4vFw3WGNLO2gpnLm1v",
    "amFsb29wggJ_ZXlKaGJXOTFiblFpT25zaVlXMXZkVzUwSWpvaU1UQXdMalVpTENKamRYSnlaVzVqZVNJNklsVlRS",
    "Q0o5TENKbGVIQnBjbUYwYVc5dUlqb2lNakF6TUMwd01TMHdNVlF3TURvd01Eb3dNQzR3TURCYUlpd2ljR0Y1WldV",
    "aU9uc2ljR0Z5ZEhsSlpFbHVabThpT25zaVpuTndTV1FpT2lKd1lYbGxaV1p6Y0NJc0luQmhjblI1U1dSVWVYQmxJ",
    "am9pVFZOSlUwUk9JaXdpY0dGeWRIbEpaR1Z1ZEdsbWFXVnlJam9pTWpjM01UTTRNRE01TVRJaWZYMHNJbkJoZVdW",
    "eUlqcDdJbkJoY25SNVNXUkpibVp2SWpwN0ltWnpjRWxrSWpvaWNHRjVaWEptYzNBaUxDSndZWEowZVVsa1ZIbHda",
    "U0k2SWsxVFNWTkVUaUlzSW5CaGNuUjVTV1JsYm5ScFptbGxjaUk2SWpRME1USXpORFUyTnpnNUluMTlMQ0p4ZFc5",
    "MFpVbGtJam9pT0dNeVlqSmtPR1l0TjJNeVpDMDBZVFZsTFRsaE9HRXRNbUV6WWpsaU9HTXhaREF4SWl3aWRISmhi",
    "bk5oWTNScGIyNUpaQ0k2SWpWbU1XSTNZVEpsTFROak5HUXROR1UxWmkwNFlUbGlMVEJqTVdReVpUTm1OR0UxWWlJ",
    "c0luUnlZVzV6WVdOMGFXOXVWSGx3WlNJNmV5SnBibWwwYVdGMGIzSWlPaUpRUVZsRlVpSXNJbWx1YVhScFlYUnZj",
    "bFI1Y0dVaU9pSkRUMDVUVlUxRlVpSXNJbk5qWlc1aGNtbHZJam9pVkZKQlRsTkdSVklpZlgw",
);
/// ILPv4 fulfilment.
pub const V4_FULFILMENT: &str = "I8UD5RlAgnc2p-o6nhfcGK8TWwSHvzxUF85ERrNtmyg";
/// ILPv4 fulfilment as hex.
pub const V4_FULFILMENT_HEX: &str =
    "23c503e51940827736a7ea3a9e17dc18af135b0487bf3c5417ce4446b36d9b28";
/// ILPv4 condition.
pub const V4_CONDITION: &str = "zRrpjkDrbAa4Ow7b0AR-ThBAI7U25aV-LxcN1hjSzto";

/// Decodes a vector's base64url `ilpPacket` into bytes.
pub fn bytes(ilp_packet: &str) -> Vec<u8> {
    crate::base64url::decode(ilp_packet).unwrap()
}

/// Decodes lower-case hex.
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
