//! ILP packets: the ILPv1 Payment (FSPIOP v1.x) and the ILPv4 Prepare, Fulfill and Reject
//! (ILP RFC 27).
//!
//! Every packet is an envelope: one type byte, then the contents as a variable-length octet
//! string. Decoding is strict (see [`crate::oer`]) and every field is validated into a type
//! that can only hold valid values (the ILPv1 `account` excepted: it is kept as raw bytes, as
//! the reference DFSP library writes it; see [`Payment`]), so for any `bytes`:
//! `Packet::decode(bytes).map(|p| p.encode()) == Ok(bytes)` whenever decoding succeeds.

use std::fmt;

use crate::IlpError;
use crate::address::{Address, AddressError, MAX_ADDRESS_LEN};
use crate::base64url;
use crate::condition::{Condition, Fulfilment};
use crate::oer::{Layer, OerError, Reader, Writer, var_octet_string_len};
use crate::timestamp::{TIMESTAMP_LEN, Timestamp};

/// Largest `data` field any packet may carry (RFC 27; ILPv1 `OCTET STRING (SIZE (0..32767))`).
pub const MAX_DATA_LEN: usize = 32767;

/// The value of the ILPv1 extensibility byte meaning "no extensions".
const NO_EXTENSIONS: u8 = 0x00;

/// The packet type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// ILPv1 Interledger Payment (FSPIOP v1.0/v1.1 `ilpPacket`).
    Payment = 1,
    /// ILPv4 Prepare.
    Prepare = 12,
    /// ILPv4 Fulfill.
    Fulfill = 13,
    /// ILPv4 Reject.
    Reject = 14,
}

impl PacketType {
    /// The type for a type byte, if known.
    pub const fn from_u8(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::Payment,
            12 => Self::Prepare,
            13 => Self::Fulfill,
            14 => Self::Reject,
            _ => return None,
        })
    }

    /// The type byte.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for PacketType {
    type Error = IlpError;

    fn try_from(byte: u8) -> Result<Self, Self::Error> {
        Self::from_u8(byte).ok_or(IlpError::UnknownPacketType(byte))
    }
}

/// Any ILP packet this crate understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// ILPv1 Interledger Payment.
    Payment(Payment),
    /// ILPv4 Prepare.
    Prepare(Prepare),
    /// ILPv4 Fulfill.
    Fulfill(Fulfill),
    /// ILPv4 Reject.
    Reject(Reject),
}

impl Packet {
    /// Decodes a packet, strictly: any non-canonical encoding, trailing byte or invalid field
    /// is an error. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, IlpError> {
        let mut outer = Reader::new(bytes);
        let type_byte = outer.read_u8().map_err(malformed("packet type"))?;
        let packet_type = PacketType::try_from(type_byte)?;
        let contents = outer
            .read_var_octet_string()
            .map_err(malformed("envelope"))?;
        outer
            .expect_end(Layer::Outer)
            .map_err(malformed("envelope"))?;
        let mut r = Reader::new(contents);
        let packet = match packet_type {
            PacketType::Payment => Self::Payment(Payment::read_contents(&mut r)?),
            PacketType::Prepare => Self::Prepare(Prepare::read_contents(&mut r)?),
            PacketType::Fulfill => Self::Fulfill(Fulfill::read_contents(&mut r)?),
            PacketType::Reject => Self::Reject(Reject::read_contents(&mut r)?),
        };
        r.expect_end(Layer::Inner)
            .map_err(malformed("packet contents"))?;
        Ok(packet)
    }

    /// Decodes a base64url `ilpPacket` string (see [`base64url::parse_ilp_packet`]).
    pub fn from_base64url(ilp_packet: &str) -> Result<Self, IlpError> {
        base64url::parse_ilp_packet(ilp_packet)
    }

    /// Encodes the packet (type byte, length prefix, contents).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Payment(p) => p.encode(),
            Self::Prepare(p) => p.encode(),
            Self::Fulfill(p) => p.encode(),
            Self::Reject(p) => p.encode(),
        }
    }

    /// Encodes the packet as an unpadded base64url `ilpPacket` string.
    pub fn to_base64url(&self) -> String {
        base64url::encode(self.encode())
    }

    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Payment(_) => PacketType::Payment,
            Self::Prepare(_) => PacketType::Prepare,
            Self::Fulfill(_) => PacketType::Fulfill,
            Self::Reject(_) => PacketType::Reject,
        }
    }

    /// The packet's `data` field.
    pub fn data(&self) -> &[u8] {
        match self {
            Self::Payment(p) => p.data(),
            Self::Prepare(p) => p.data(),
            Self::Fulfill(p) => p.data(),
            Self::Reject(p) => p.data(),
        }
    }
}

impl From<Payment> for Packet {
    fn from(p: Payment) -> Self {
        Self::Payment(p)
    }
}

impl From<Prepare> for Packet {
    fn from(p: Prepare) -> Self {
        Self::Prepare(p)
    }
}

impl From<Fulfill> for Packet {
    fn from(p: Fulfill) -> Self {
        Self::Fulfill(p)
    }
}

impl From<Reject> for Packet {
    fn from(p: Reject) -> Self {
        Self::Reject(p)
    }
}

/// ILPv1 Interledger Payment (type 1), the FSPIOP v1.x `ilpPacket`.
///
/// Contents: `amount` UInt64, `account` octet string, `data` octet string, then the
/// extensibility byte, which must be `0x00` (no extensions).
///
/// The `account` is meant to be an ILP address, but the reference DFSP library
/// (`@mojaloop/sdk-standard-components`) writes `g.{fspId}.{partyIdType}.{partyIdentifier}`
/// whatever the identifier holds: the `@` of an `EMAIL`, spaces, and non-ASCII text as the low
/// byte of each UTF-16 code unit. Its own decoder (`ilp-packet` 2.2.0) does not check the field
/// either. So the account is kept as the raw bytes on the wire (1 to
/// [`MAX_ADDRESS_LEN`] of them); [`Payment::account_address`] gives the RFC 15 view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    amount: u64,
    account: Vec<u8>,
    data: Vec<u8>,
}

impl Payment {
    /// Builds a Payment to an ILP address; fails if `data` is longer than [`MAX_DATA_LEN`].
    pub fn new(amount: u64, account: Address, data: Vec<u8>) -> Result<Self, IlpError> {
        Self::with_raw_account(amount, account.into_string().into_bytes(), data)
    }

    /// Builds a Payment whose account is any 1 to [`MAX_ADDRESS_LEN`] bytes, as the SDK
    /// writes it for party identifiers that are not valid address segments (see
    /// [`crate::terms::sdk_party_account`]); fails if `data` is longer than [`MAX_DATA_LEN`].
    pub fn with_raw_account(
        amount: u64,
        account: Vec<u8>,
        data: Vec<u8>,
    ) -> Result<Self, IlpError> {
        check_account(&account)?;
        check_data_len(&data)?;
        Ok(Self {
            amount,
            account,
            data,
        })
    }

    /// Decodes bytes that must hold a Payment packet.
    pub fn decode(bytes: &[u8]) -> Result<Self, IlpError> {
        match Packet::decode(bytes)? {
            Packet::Payment(p) => Ok(p),
            other => Err(unexpected(PacketType::Payment, &other)),
        }
    }

    /// Encodes the packet.
    pub fn encode(&self) -> Vec<u8> {
        envelope(PacketType::Payment, self.contents_len(), |w| {
            self.write_contents(w)
        })
    }

    /// Amount in the minor units of the transfer currency.
    pub fn amount(&self) -> u64 {
        self.amount
    }

    /// The payee account, as the bytes on the wire (not necessarily an ILP address or even
    /// UTF-8; see the type's documentation).
    pub fn account(&self) -> &[u8] {
        &self.account
    }

    /// The payee account as an RFC 15 ILP address, if it is one.
    pub fn account_address(&self) -> Result<Address, AddressError> {
        Address::from_bytes(&self.account)
    }

    /// End-to-end data (in FSPIOP: ASCII base64url of the Transaction JSON).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    fn read_contents(r: &mut Reader<'_>) -> Result<Self, IlpError> {
        let amount = r.read_u64().map_err(malformed("amount"))?;
        let account = r.read_var_octet_string().map_err(malformed("account"))?;
        check_account(account)?;
        let data = read_data(r)?;
        let extensions = r.read_u8().map_err(malformed("extensions"))?;
        if extensions != NO_EXTENSIONS {
            return Err(IlpError::UnsupportedExtensions(extensions));
        }
        Ok(Self {
            amount,
            account: account.to_vec(),
            data,
        })
    }

    fn contents_len(&self) -> usize {
        8usize
            .saturating_add(var_octet_string_len(self.account.len()))
            .saturating_add(var_octet_string_len(self.data.len()))
            .saturating_add(1)
    }

    fn write_contents(&self, w: &mut Writer) {
        w.write_u64(self.amount);
        w.write_var_octet_string(&self.account);
        w.write_var_octet_string(&self.data);
        w.write_u8(NO_EXTENSIONS);
    }
}

/// ILPv4 Prepare (type 12).
///
/// Contents: `amount` UInt64, `expiresAt` 17-byte timestamp, `executionCondition` 32 bytes,
/// `destination` address, `data` octet string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    amount: u64,
    expires_at: Timestamp,
    execution_condition: Condition,
    destination: Address,
    data: Vec<u8>,
}

impl Prepare {
    /// Builds a Prepare; fails if `data` is longer than [`MAX_DATA_LEN`].
    pub fn new(
        amount: u64,
        expires_at: Timestamp,
        execution_condition: Condition,
        destination: Address,
        data: Vec<u8>,
    ) -> Result<Self, IlpError> {
        check_data_len(&data)?;
        Ok(Self {
            amount,
            expires_at,
            execution_condition,
            destination,
            data,
        })
    }

    /// Decodes bytes that must hold a Prepare packet.
    pub fn decode(bytes: &[u8]) -> Result<Self, IlpError> {
        match Packet::decode(bytes)? {
            Packet::Prepare(p) => Ok(p),
            other => Err(unexpected(PacketType::Prepare, &other)),
        }
    }

    /// Encodes the packet.
    pub fn encode(&self) -> Vec<u8> {
        envelope(PacketType::Prepare, self.contents_len(), |w| {
            self.write_contents(w)
        })
    }

    /// Amount in the minor units of the transfer currency.
    pub fn amount(&self) -> u64 {
        self.amount
    }

    /// When the packet expires (UTC, millisecond precision).
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// The execution condition (SHA-256 of the fulfilment).
    pub fn execution_condition(&self) -> &Condition {
        &self.execution_condition
    }

    /// ILP address of the receiver.
    pub fn destination(&self) -> &Address {
        &self.destination
    }

    /// End-to-end data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    fn read_contents(r: &mut Reader<'_>) -> Result<Self, IlpError> {
        let amount = r.read_u64().map_err(malformed("amount"))?;
        let expires_raw = r
            .read_array::<TIMESTAMP_LEN>()
            .map_err(malformed("expiresAt"))?;
        let expires_at = Timestamp::from_bytes(&expires_raw)?;
        let condition = r
            .read_array::<32>()
            .map_err(malformed("executionCondition"))?;
        let destination = read_address(r, "destination")?;
        let data = read_data(r)?;
        Ok(Self {
            amount,
            expires_at,
            execution_condition: Condition::from_bytes(condition),
            destination,
            data,
        })
    }

    fn contents_len(&self) -> usize {
        (8 + TIMESTAMP_LEN + 32)
            .saturating_add(var_octet_string_len(self.destination.as_bytes().len()))
            .saturating_add(var_octet_string_len(self.data.len()))
    }

    fn write_contents(&self, w: &mut Writer) {
        w.write_u64(self.amount);
        w.write_bytes(&self.expires_at.to_bytes());
        w.write_bytes(self.execution_condition.as_bytes());
        w.write_var_octet_string(self.destination.as_bytes());
        w.write_var_octet_string(&self.data);
    }
}

/// ILPv4 Fulfill (type 13).
///
/// Contents: `fulfillment` 32 bytes, `data` octet string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfill {
    fulfilment: Fulfilment,
    data: Vec<u8>,
}

impl Fulfill {
    /// Builds a Fulfill; fails if `data` is longer than [`MAX_DATA_LEN`].
    pub fn new(fulfilment: Fulfilment, data: Vec<u8>) -> Result<Self, IlpError> {
        check_data_len(&data)?;
        Ok(Self { fulfilment, data })
    }

    /// Decodes bytes that must hold a Fulfill packet.
    pub fn decode(bytes: &[u8]) -> Result<Self, IlpError> {
        match Packet::decode(bytes)? {
            Packet::Fulfill(p) => Ok(p),
            other => Err(unexpected(PacketType::Fulfill, &other)),
        }
    }

    /// Encodes the packet.
    pub fn encode(&self) -> Vec<u8> {
        envelope(PacketType::Fulfill, self.contents_len(), |w| {
            self.write_contents(w)
        })
    }

    /// The fulfilment (preimage of the Prepare's condition).
    pub fn fulfilment(&self) -> &Fulfilment {
        &self.fulfilment
    }

    /// End-to-end data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    fn read_contents(r: &mut Reader<'_>) -> Result<Self, IlpError> {
        let fulfilment = r.read_array::<32>().map_err(malformed("fulfillment"))?;
        let data = read_data(r)?;
        Ok(Self {
            fulfilment: Fulfilment::from_bytes(fulfilment),
            data,
        })
    }

    fn contents_len(&self) -> usize {
        32usize.saturating_add(var_octet_string_len(self.data.len()))
    }

    fn write_contents(&self, w: &mut Writer) {
        w.write_bytes(self.fulfilment.as_bytes());
        w.write_var_octet_string(&self.data);
    }
}

/// An ILP error code as carried in a Reject: three ASCII letters or digits, e.g. `F02`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode([u8; 3]);

impl ErrorCode {
    /// Validates a 3-byte code (ASCII letters and digits only).
    pub fn new(code: [u8; 3]) -> Result<Self, IlpError> {
        if code.iter().all(u8::is_ascii_alphanumeric) {
            Ok(Self(code))
        } else {
            Err(IlpError::InvalidErrorCode(code))
        }
    }

    /// The code as a string, e.g. `"F02"`.
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics are admitted, so this is always valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 3] {
        &self.0
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = IlpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = <[u8; 3]>::try_from(s.as_bytes()).map_err(|_| IlpError::InvalidLength {
            field: "code",
            expected: 3,
            actual: s.len(),
        })?;
        Self::new(code)
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ErrorCode").field(&self.as_str()).finish()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ILPv4 Reject (type 14).
///
/// Contents: `code` 3 bytes, `triggeredBy` address (empty allowed, as several implementations
/// send it), `message` UTF-8 string, `data` octet string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    code: ErrorCode,
    triggered_by: Option<Address>,
    message: String,
    data: Vec<u8>,
}

impl Reject {
    /// Builds a Reject; fails if `data` is longer than [`MAX_DATA_LEN`].
    ///
    /// `triggered_by: None` encodes as an empty address.
    pub fn new(
        code: ErrorCode,
        triggered_by: Option<Address>,
        message: String,
        data: Vec<u8>,
    ) -> Result<Self, IlpError> {
        check_data_len(&data)?;
        Ok(Self {
            code,
            triggered_by,
            message,
            data,
        })
    }

    /// Decodes bytes that must hold a Reject packet.
    pub fn decode(bytes: &[u8]) -> Result<Self, IlpError> {
        match Packet::decode(bytes)? {
            Packet::Reject(p) => Ok(p),
            other => Err(unexpected(PacketType::Reject, &other)),
        }
    }

    /// Encodes the packet.
    pub fn encode(&self) -> Vec<u8> {
        envelope(PacketType::Reject, self.contents_len(), |w| {
            self.write_contents(w)
        })
    }

    /// The ILP error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// Address of the party that created the error, if given.
    pub fn triggered_by(&self) -> Option<&Address> {
        self.triggered_by.as_ref()
    }

    /// Human-readable error message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// End-to-end data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    fn read_contents(r: &mut Reader<'_>) -> Result<Self, IlpError> {
        let code = ErrorCode::new(r.read_array::<3>().map_err(malformed("code"))?)?;
        let triggered_by_raw = r
            .read_var_octet_string()
            .map_err(malformed("triggeredBy"))?;
        let triggered_by = if triggered_by_raw.is_empty() {
            None
        } else {
            Some(Address::from_bytes(triggered_by_raw).map_err(|source| {
                IlpError::InvalidAddress {
                    field: "triggeredBy",
                    source,
                }
            })?)
        };
        let message = r.read_var_octet_string().map_err(malformed("message"))?;
        let message = std::str::from_utf8(message)
            .map_err(|_| IlpError::InvalidUtf8 { field: "message" })?
            .to_owned();
        let data = read_data(r)?;
        Ok(Self {
            code,
            triggered_by,
            message,
            data,
        })
    }

    fn contents_len(&self) -> usize {
        let triggered_by = self.triggered_by.as_ref().map_or(0, |a| a.as_bytes().len());
        3usize
            .saturating_add(var_octet_string_len(triggered_by))
            .saturating_add(var_octet_string_len(self.message.len()))
            .saturating_add(var_octet_string_len(self.data.len()))
    }

    fn write_contents(&self, w: &mut Writer) {
        w.write_bytes(self.code.as_bytes());
        w.write_var_octet_string(self.triggered_by.as_ref().map_or(&[], |a| a.as_bytes()));
        w.write_var_octet_string(self.message.as_bytes());
        w.write_var_octet_string(&self.data);
    }
}

/// Writes the envelope: type byte, length prefix, then the contents written by `write`.
fn envelope(
    packet_type: PacketType,
    contents_len: usize,
    write: impl FnOnce(&mut Writer),
) -> Vec<u8> {
    let mut w = Writer::with_capacity(var_octet_string_len(contents_len).saturating_add(1));
    w.write_u8(packet_type.as_u8());
    w.write_length_prefix(contents_len);
    let before = w.len();
    write(&mut w);
    debug_assert_eq!(w.len().saturating_sub(before), contents_len);
    w.into_bytes()
}

fn malformed(field: &'static str) -> impl Fn(OerError) -> IlpError {
    move |source| IlpError::Malformed { field, source }
}

fn unexpected(expected: PacketType, actual: &Packet) -> IlpError {
    IlpError::UnexpectedPacketType {
        expected,
        actual: actual.packet_type(),
    }
}

/// The ILPv1 account: not empty, and no longer than an ILP address may be.
fn check_account(account: &[u8]) -> Result<(), IlpError> {
    if account.is_empty() {
        return Err(IlpError::Empty { field: "account" });
    }
    if account.len() > MAX_ADDRESS_LEN {
        return Err(IlpError::TooLong {
            field: "account",
            len: account.len(),
            max: MAX_ADDRESS_LEN,
        });
    }
    Ok(())
}

fn check_data_len(data: &[u8]) -> Result<(), IlpError> {
    if data.len() > MAX_DATA_LEN {
        return Err(IlpError::TooLong {
            field: "data",
            len: data.len(),
            max: MAX_DATA_LEN,
        });
    }
    Ok(())
}

fn read_address(r: &mut Reader<'_>, field: &'static str) -> Result<Address, IlpError> {
    let raw = r.read_var_octet_string().map_err(malformed(field))?;
    Address::from_bytes(raw).map_err(|source| IlpError::InvalidAddress { field, source })
}

fn read_data(r: &mut Reader<'_>) -> Result<Vec<u8>, IlpError> {
    let raw = r.read_var_octet_string().map_err(malformed("data"))?;
    check_data_len(raw)?;
    Ok(raw.to_vec())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::address::ALLOCATION_SCHEMES;
    use crate::oer::OerError;
    use crate::test_vectors::{self as tv, bytes};
    use crate::timestamp::TimestampError;

    /// Builds an envelope around arbitrary contents.
    fn wrap(type_byte: u8, contents: &[u8]) -> Vec<u8> {
        let mut w = Writer::new();
        w.write_u8(type_byte);
        w.write_var_octet_string(contents);
        w.into_bytes()
    }

    /// The contents of a packet (after the type byte and length prefix).
    fn contents(packet: &[u8]) -> Vec<u8> {
        let mut r = Reader::new(packet);
        r.read_u8().unwrap();
        r.read_var_octet_string().unwrap().to_vec()
    }

    fn is_truncation_error(e: &IlpError) -> bool {
        matches!(
            e,
            IlpError::Malformed {
                source: OerError::UnexpectedEnd { .. } | OerError::LengthExceedsInput { .. },
                ..
            }
        )
    }

    fn malformed_source(e: IlpError) -> (&'static str, OerError) {
        match e {
            IlpError::Malformed { field, source } => (field, source),
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn decodes_v1_vector() {
        let raw = bytes(tv::V1_ILP_PACKET);
        assert_eq!(raw.len(), 685);
        assert_eq!(raw[..4], [0x01, 0x82, 0x02, 0xa9]);
        let Packet::Payment(p) = Packet::decode(&raw).unwrap() else {
            panic!("not a Payment")
        };
        assert_eq!(p.amount(), 10050);
        assert_eq!(p.account(), b"g.payeefsp.msisdn.27713803912");
        assert_eq!(
            p.account_address().unwrap().as_str(),
            "g.payeefsp.msisdn.27713803912"
        );
        assert_eq!(p.data(), base64url::encode(tv::TRANSACTION_JSON).as_bytes());
        assert_eq!(p.data().len(), 639);
        assert_eq!(p.encode(), raw);
        assert_eq!(Payment::decode(&raw).unwrap(), p);
        assert_eq!(Packet::from(p.clone()).to_base64url(), tv::V1_ILP_PACKET);
        assert_eq!(
            Packet::from_base64url(tv::V1_ILP_PACKET).unwrap(),
            Packet::Payment(p)
        );
    }

    #[test]
    fn decodes_v4_vector() {
        let raw = bytes(tv::V4_ILP_PACKET);
        assert_eq!(raw.len(), 714);
        assert_eq!(raw[..4], [0x0c, 0x82, 0x02, 0xc6]);
        let p = Prepare::decode(&raw).unwrap();
        assert_eq!(p.amount(), 10050);
        assert_eq!(p.expires_at().to_string(), "20300101000000000");
        assert_eq!(
            p.expires_at().to_offset_datetime(),
            time::macros::datetime!(2030-01-01 00:00 UTC)
        );
        assert_eq!(p.execution_condition().to_base64url(), tv::V4_CONDITION);
        assert_eq!(p.execution_condition().as_bytes()[..2], [0xcd, 0x1a]);
        assert_eq!(p.destination().as_str(), "g.mojaloop");
        assert_eq!(p.data(), base64url::encode(tv::TRANSACTION_JSON).as_bytes());
        assert_eq!(p.encode(), raw);
        let packet = Packet::decode(&raw).unwrap();
        assert_eq!(packet.packet_type(), PacketType::Prepare);
        assert_eq!(packet.data(), p.data());
        assert_eq!(packet.to_base64url(), tv::V4_ILP_PACKET);
    }

    #[test]
    fn fulfill_and_reject_layouts() {
        let fulfilment = Fulfilment::from_bytes([0x11; 32]);
        let fulfill = Fulfill::new(fulfilment, b"hi".to_vec()).unwrap();
        let mut expected = vec![0x0d, 35];
        expected.extend_from_slice(&[0x11; 32]);
        expected.extend_from_slice(&[2, b'h', b'i']);
        assert_eq!(fulfill.encode(), expected);
        assert_eq!(Fulfill::decode(&expected).unwrap(), fulfill);
        assert_eq!(fulfill.fulfilment(), &fulfilment);

        let reject = Reject::new(
            "F02".parse().unwrap(),
            Some(Address::new("g.hub").unwrap()),
            "no route".to_owned(),
            vec![],
        )
        .unwrap();
        let expected = [
            &[0x0e, 19][..],
            b"F02",
            &[5],
            b"g.hub",
            &[8],
            b"no route",
            &[0],
        ]
        .concat();
        assert_eq!(reject.encode(), expected);
        let decoded = Reject::decode(&expected).unwrap();
        assert_eq!(decoded, reject);
        assert_eq!(decoded.code().as_str(), "F02");
        assert_eq!(decoded.triggered_by().map(Address::as_str), Some("g.hub"));
        assert_eq!(decoded.message(), "no route");

        // An empty triggeredBy (sent by several implementations) round-trips as None.
        let anonymous = [&[0x0e, 6][..], b"R00", &[0, 0, 0]].concat();
        let decoded = Reject::decode(&anonymous).unwrap();
        assert_eq!(decoded.triggered_by(), None);
        assert_eq!(decoded.encode(), anonymous);
    }

    #[test]
    fn typed_decoders_check_the_type() {
        let raw = bytes(tv::V4_ILP_PACKET);
        assert_eq!(
            Payment::decode(&raw),
            Err(IlpError::UnexpectedPacketType {
                expected: PacketType::Payment,
                actual: PacketType::Prepare
            })
        );
        assert!(matches!(
            Fulfill::decode(&raw),
            Err(IlpError::UnexpectedPacketType { .. })
        ));
        assert!(matches!(
            Reject::decode(&bytes(tv::V1_ILP_PACKET)),
            Err(IlpError::UnexpectedPacketType { .. })
        ));
    }

    #[test]
    fn truncated_at_every_length() {
        for vector in [tv::V1_ILP_PACKET, tv::V4_ILP_PACKET] {
            let raw = bytes(vector);
            for n in 0..raw.len() {
                let err = Packet::decode(&raw[..n]).unwrap_err();
                assert!(is_truncation_error(&err), "len {n}: {err:?}");
                let field = malformed_source(err).0;
                let expected = match n {
                    0 => "packet type",
                    _ => "envelope",
                };
                assert_eq!(field, expected, "len {n}");
            }
        }
    }

    #[test]
    fn contents_truncated_at_every_length() {
        for vector in [tv::V1_ILP_PACKET, tv::V4_ILP_PACKET] {
            let raw = bytes(vector);
            let inner = contents(&raw);
            for n in 0..inner.len() {
                let err = Packet::decode(&wrap(raw[0], &inner[..n])).unwrap_err();
                assert!(is_truncation_error(&err), "len {n}: {err:?}");
            }
        }
        // Specific fields.
        let v1 = contents(&bytes(tv::V1_ILP_PACKET));
        let err = Packet::decode(&wrap(1, &v1[..v1.len() - 1])).unwrap_err();
        assert_eq!(
            malformed_source(err),
            (
                "extensions",
                OerError::UnexpectedEnd {
                    needed: 1,
                    available: 0
                }
            )
        );
        let err = Packet::decode(&wrap(1, &v1[..7])).unwrap_err();
        assert_eq!(
            malformed_source(err),
            (
                "amount",
                OerError::UnexpectedEnd {
                    needed: 8,
                    available: 7
                }
            )
        );
        let v4 = contents(&bytes(tv::V4_ILP_PACKET));
        let err = Packet::decode(&wrap(12, &v4[..20])).unwrap_err();
        assert_eq!(
            malformed_source(err),
            (
                "expiresAt",
                OerError::UnexpectedEnd {
                    needed: 17,
                    available: 12
                }
            )
        );
        let err = Packet::decode(&wrap(12, &v4[..40])).unwrap_err();
        assert_eq!(
            malformed_source(err),
            (
                "executionCondition",
                OerError::UnexpectedEnd {
                    needed: 32,
                    available: 15
                }
            )
        );
        let err = Packet::decode(&wrap(12, &v4[..60])).unwrap_err();
        assert_eq!(
            malformed_source(err),
            (
                "destination",
                OerError::LengthExceedsInput {
                    declared: 10,
                    available: 2
                }
            )
        );
    }

    #[test]
    fn wrong_envelope_length() {
        let raw = bytes(tv::V1_ILP_PACKET);
        // Declared one byte short: the last byte is left over after the envelope.
        let mut short = raw.clone();
        short[3] -= 1;
        let err = Packet::decode(&short).unwrap_err();
        assert_eq!(
            malformed_source(err),
            (
                "envelope",
                OerError::TrailingBytes {
                    layer: Layer::Outer,
                    count: 1
                }
            )
        );
        // Declared one byte long.
        let mut long = raw.clone();
        long[3] += 1;
        let err = Packet::decode(&long).unwrap_err();
        assert_eq!(
            malformed_source(err),
            (
                "envelope",
                OerError::LengthExceedsInput {
                    declared: 682,
                    available: 681
                }
            )
        );
        // Wrong inner data length: declares 640 of 639 data bytes, swallowing the extension
        // byte, so the extension byte is missing.
        let mut inner = contents(&raw);
        let data_len_at = 8 + 1 + 29 + 2;
        assert_eq!(inner[data_len_at], 0x7f);
        inner[data_len_at] = 0x80;
        let err = Packet::decode(&wrap(1, &inner)).unwrap_err();
        assert_eq!(
            malformed_source(err),
            (
                "extensions",
                OerError::UnexpectedEnd {
                    needed: 1,
                    available: 0
                }
            )
        );
    }

    #[test]
    fn non_minimal_and_bad_length_prefixes() {
        let fulfill = Fulfill::new(Fulfilment::from_bytes([0; 32]), vec![])
            .unwrap()
            .encode();
        assert_eq!(fulfill[..2], [0x0d, 33]);
        let body = &fulfill[2..];
        let with_prefix = |prefix: &[u8]| [&[0x0d][..], prefix, body].concat();
        let cases: &[(&[u8], OerError)] = &[
            (&[0x81, 33], OerError::ShortFormRequired { length: 33 }),
            (&[0x82, 0, 33], OerError::LengthLeadingZero),
            (&[0x80], OerError::IndefiniteLength),
            (
                &[0x89, 0, 0, 0, 0, 0, 0, 0, 0, 33],
                OerError::LengthOfLengthTooLarge {
                    length_of_length: 9,
                },
            ),
        ];
        for (prefix, expected) in cases {
            let err = Packet::decode(&with_prefix(prefix)).unwrap_err();
            assert_eq!(malformed_source(err), ("envelope", expected.clone()));
        }
        // Non-minimal length inside the contents (data length 5 written as 81 05).
        let inner = [&[0u8; 32][..], &[0x81, 0x05], b"hello"].concat();
        let err = Packet::decode(&wrap(0x0d, &inner)).unwrap_err();
        assert_eq!(
            malformed_source(err),
            ("data", OerError::ShortFormRequired { length: 5 })
        );
        let inner = [&[0u8; 32][..], &[0x81, 0x00]].concat();
        let err = Packet::decode(&wrap(0x0d, &inner)).unwrap_err();
        assert_eq!(malformed_source(err), ("data", OerError::LengthLeadingZero));
        // The vector's own 2-byte envelope length written with a leading zero.
        let raw = bytes(tv::V4_ILP_PACKET);
        let padded = [&[0x0c, 0x83, 0x00][..], &raw[2..]].concat();
        let err = Packet::decode(&padded).unwrap_err();
        assert_eq!(
            malformed_source(err),
            ("envelope", OerError::LengthLeadingZero)
        );
    }

    #[test]
    fn trailing_bytes_outer_and_inner() {
        for vector in [tv::V1_ILP_PACKET, tv::V4_ILP_PACKET] {
            let raw = bytes(vector);
            let mut outer = raw.clone();
            outer.extend_from_slice(&[0, 0]);
            let err = Packet::decode(&outer).unwrap_err();
            assert_eq!(
                malformed_source(err),
                (
                    "envelope",
                    OerError::TrailingBytes {
                        layer: Layer::Outer,
                        count: 2
                    }
                )
            );
            let mut inner = contents(&raw);
            inner.push(0);
            let err = Packet::decode(&wrap(raw[0], &inner)).unwrap_err();
            assert_eq!(
                malformed_source(err),
                (
                    "packet contents",
                    OerError::TrailingBytes {
                        layer: Layer::Inner,
                        count: 1
                    }
                )
            );
        }
    }

    #[test]
    fn bad_timestamps() {
        let raw = bytes(tv::V4_ILP_PACKET);
        let ts_at = 4 + 8;
        assert_eq!(&raw[ts_at..ts_at + 17], b"20300101000000000");
        let cases: &[(&[u8; 17], TimestampError)] = &[
            (
                b"20301301000000000",
                TimestampError::InvalidComponent("month"),
            ),
            (
                b"20300230000000000",
                TimestampError::InvalidComponent("day"),
            ),
            (
                b"20300101250000000",
                TimestampError::InvalidComponent("hour"),
            ),
            (
                b"20300101000060000",
                TimestampError::InvalidComponent("second"),
            ),
            (b"2030010100000000Z", TimestampError::NotDigits),
            (b"2030-01-01T00:00Z", TimestampError::NotDigits),
        ];
        for (ts, expected) in cases {
            let mut bad = raw.clone();
            bad[ts_at..ts_at + 17].copy_from_slice(*ts);
            assert_eq!(
                Packet::decode(&bad),
                Err(IlpError::InvalidTimestamp(expected.clone()))
            );
        }
    }

    #[test]
    fn huge_declared_lengths() {
        let outer = [
            0x01, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
        ];
        let err = Packet::decode(&outer).unwrap_err();
        assert_eq!(
            malformed_source(err),
            (
                "envelope",
                OerError::LengthExceedsInput {
                    declared: u64::MAX,
                    available: 1
                }
            )
        );
        let outer = [0x0c, 0x84, 0x7f, 0xff, 0xff, 0xff];
        let err = Packet::decode(&outer).unwrap_err();
        assert_eq!(
            malformed_source(err),
            (
                "envelope",
                OerError::LengthExceedsInput {
                    declared: 0x7fff_ffff,
                    available: 0
                }
            )
        );
        // A Fulfill whose data claims 2^56 bytes.
        let inner = [&[0u8; 32][..], &[0x87, 1, 0, 0, 0, 0, 0, 0]].concat();
        let err = Packet::decode(&wrap(0x0d, &inner)).unwrap_err();
        assert_eq!(
            malformed_source(err),
            (
                "data",
                OerError::LengthExceedsInput {
                    declared: 1 << 48,
                    available: 0
                }
            )
        );
    }

    #[test]
    fn unknown_types() {
        for t in [0x00, 0x02, 0x08, 0x0b, 0x0f, 0xff] {
            assert_eq!(
                Packet::decode(&wrap(t, &[])),
                Err(IlpError::UnknownPacketType(t))
            );
        }
        assert_eq!(Packet::decode(&[0x02]), Err(IlpError::UnknownPacketType(2)));
        assert_eq!(PacketType::try_from(13).unwrap(), PacketType::Fulfill);
    }

    #[test]
    fn invalid_fields() {
        // ILPv1 extensibility byte other than 0x00.
        let mut inner = contents(&bytes(tv::V1_ILP_PACKET));
        *inner.last_mut().unwrap() = 0x80;
        assert_eq!(
            Packet::decode(&wrap(1, &inner)),
            Err(IlpError::UnsupportedExtensions(0x80))
        );
        // The ILPv1 account is raw bytes (the SDK writes EMAIL identifiers, spaces, non-ASCII
        // text there), but not empty and not longer than an ILP address.
        let mut inner = contents(&bytes(tv::V1_ILP_PACKET));
        inner[9] = b'x'; // "g." -> "x."
        let Packet::Payment(p) = Packet::decode(&wrap(1, &inner)).unwrap() else {
            panic!("not a Payment")
        };
        assert_eq!(p.account(), b"x.payeefsp.msisdn.27713803912");
        assert_eq!(p.account_address(), Err(AddressError::UnknownScheme));
        let payment = |account: &[u8]| {
            let mut w = Writer::new();
            w.write_u64(1);
            w.write_var_octet_string(account);
            w.write_var_octet_string(b"");
            w.write_u8(0);
            wrap(1, &w.into_bytes())
        };
        let odd = b"g.fsp.email.a@b.com \xeb\xff\x00";
        let Packet::Payment(p) = Packet::decode(&payment(odd)).unwrap() else {
            panic!("not a Payment")
        };
        assert_eq!(p.account(), odd);
        assert_eq!(p.encode(), payment(odd));
        assert_eq!(
            Packet::decode(&payment(b"")),
            Err(IlpError::Empty { field: "account" })
        );
        let longest = vec![b'a'; crate::address::MAX_ADDRESS_LEN];
        assert!(Packet::decode(&payment(&longest)).is_ok());
        let too_long = vec![b'a'; crate::address::MAX_ADDRESS_LEN + 1];
        assert_eq!(
            Packet::decode(&payment(&too_long)),
            Err(IlpError::TooLong {
                field: "account",
                len: crate::address::MAX_ADDRESS_LEN + 1,
                max: crate::address::MAX_ADDRESS_LEN
            })
        );
        assert!(matches!(
            Payment::with_raw_account(0, vec![], vec![]),
            Err(IlpError::Empty { field: "account" })
        ));
        // Empty destination address.
        let inner = [&[0u8; 8][..], b"20300101000000000", &[0; 32], &[0, 0]].concat();
        assert_eq!(
            Packet::decode(&wrap(12, &inner)),
            Err(IlpError::InvalidAddress {
                field: "destination",
                source: AddressError::Empty
            })
        );
        // Data one byte too long.
        let mut w = Writer::new();
        w.write_bytes(&[0; 32]);
        w.write_var_octet_string(&vec![0; MAX_DATA_LEN + 1]);
        assert_eq!(
            Packet::decode(&wrap(13, &w.into_bytes())),
            Err(IlpError::TooLong {
                field: "data",
                len: MAX_DATA_LEN + 1,
                max: MAX_DATA_LEN
            })
        );
        assert!(Fulfill::new(Fulfilment::from_bytes([0; 32]), vec![0; MAX_DATA_LEN]).is_ok());
        assert!(matches!(
            Payment::new(0, Address::new("g.a").unwrap(), vec![0; MAX_DATA_LEN + 1]),
            Err(IlpError::TooLong { .. })
        ));
        // Reject: bad code, bad triggeredBy, non-UTF-8 message.
        let reject = |code: &[u8], by: &[u8], msg: &[u8]| {
            let mut w = Writer::new();
            w.write_bytes(code);
            w.write_var_octet_string(by);
            w.write_var_octet_string(msg);
            w.write_var_octet_string(&[]);
            wrap(14, &w.into_bytes())
        };
        assert_eq!(
            Packet::decode(&reject(b"F0 ", b"", b"")),
            Err(IlpError::InvalidErrorCode(*b"F0 "))
        );
        assert_eq!(
            Packet::decode(&reject(b"F00", b"g", b"")),
            Err(IlpError::InvalidAddress {
                field: "triggeredBy",
                source: AddressError::MissingSegment
            })
        );
        assert_eq!(
            Packet::decode(&reject(b"F00", b"", &[0xc3])),
            Err(IlpError::InvalidUtf8 { field: "message" })
        );
        assert!(Packet::decode(&reject(b"T99", b"", "ünïcödé".as_bytes())).is_ok());
        assert!("F0".parse::<ErrorCode>().is_err());
    }

    fn address() -> impl Strategy<Value = Address> {
        (
            prop::sample::select(ALLOCATION_SCHEMES.to_vec()),
            prop::collection::vec("[A-Za-z0-9_~-]{1,12}", 1..6),
        )
            .prop_map(|(scheme, segments)| {
                Address::new(&format!("{scheme}.{}", segments.join("."))).unwrap()
            })
    }

    fn data() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            20 => prop::collection::vec(any::<u8>(), 0..300),
            1 => prop::collection::vec(any::<u8>(), MAX_DATA_LEN - 10..=MAX_DATA_LEN),
        ]
    }

    fn timestamp() -> impl Strategy<Value = Timestamp> {
        (
            0u16..=9999,
            1u8..=12,
            1u8..=31,
            0u8..24,
            0u8..60,
            0u8..60,
            0u16..1000,
        )
            .prop_filter_map("real date", |(y, mo, d, h, mi, s, ms)| {
                format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}{ms:03}")
                    .parse()
                    .ok()
            })
    }

    fn packet() -> impl Strategy<Value = Packet> {
        prop_oneof![
            (any::<u64>(), address(), data())
                .prop_map(|(a, addr, d)| Packet::Payment(Payment::new(a, addr, d).unwrap())),
            (
                any::<u64>(),
                prop::collection::vec(any::<u8>(), 1..=crate::address::MAX_ADDRESS_LEN),
                data()
            )
                .prop_map(|(a, account, d)| {
                    Packet::Payment(Payment::with_raw_account(a, account, d).unwrap())
                }),
            (
                any::<u64>(),
                timestamp(),
                any::<[u8; 32]>(),
                address(),
                data()
            )
                .prop_map(|(a, t, c, addr, d)| {
                    Packet::Prepare(Prepare::new(a, t, Condition::from_bytes(c), addr, d).unwrap())
                }),
            (any::<[u8; 32]>(), data()).prop_map(|(f, d)| {
                Packet::Fulfill(Fulfill::new(Fulfilment::from_bytes(f), d).unwrap())
            }),
            (
                "[A-Z0-9]{3}",
                prop::option::of(address()),
                "\\PC{0,40}",
                data()
            )
                .prop_map(|(code, by, msg, d)| {
                    Packet::Reject(Reject::new(code.parse().unwrap(), by, msg, d).unwrap())
                }),
        ]
    }

    /// Arbitrary bytes, biased towards almost-valid packets.
    fn fuzz_input() -> impl Strategy<Value = Vec<u8>> {
        let mutated = (
            packet(),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
        )
            .prop_map(|(p, edits)| {
                let mut bytes = p.encode();
                for (index, byte, op) in edits {
                    if bytes.is_empty() {
                        bytes.push(byte);
                        continue;
                    }
                    let i = index.index(bytes.len());
                    match op {
                        0 => bytes[i] = byte,
                        1 => bytes.insert(i, byte),
                        _ => bytes.truncate(i),
                    }
                }
                bytes
            });
        let vectors = (
            prop::sample::select(vec![tv::V1_ILP_PACKET, tv::V4_ILP_PACKET]),
            any::<prop::sample::Index>(),
            any::<u8>(),
        )
            .prop_map(|(v, index, byte)| {
                let mut bytes = bytes(v);
                let i = index.index(bytes.len());
                bytes[i] = byte;
                bytes
            });
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            (
                prop::sample::select(vec![1u8, 12, 13, 14]),
                prop::collection::vec(any::<u8>(), 0..80)
            )
                .prop_map(|(t, rest)| [&[t][..], &rest].concat()),
            mutated,
            vectors,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn encode_then_decode_is_identity(p in packet()) {
            let bytes = p.encode();
            prop_assert_eq!(Packet::decode(&bytes), Ok(p.clone()));
            let text = p.to_base64url();
            // The largest packets do not fit in an FSPIOP ilpPacket string (32768 chars).
            if text.len() <= crate::base64url::MAX_ILP_PACKET_CHARS {
                prop_assert_eq!(Packet::from_base64url(&text), Ok(p));
            }
        }

        #[test]
        fn decode_never_panics_and_round_trips(bytes in fuzz_input()) {
            if let Ok(p) = Packet::decode(&bytes) {
                prop_assert_eq!(p.encode(), bytes);
            }
        }
    }
}
