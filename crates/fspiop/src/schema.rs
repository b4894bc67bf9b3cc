//! Request body validation for FSPIOP v1.1, driven by the official OpenAPI document.
//!
//! The schemas are not written by hand: `scripts/refresh-fspiop-schema` copies
//! `components.schemas` and the request-body map (`"METHOD /path/template"` → schema) out of
//! `docs/fspiop-rest-v1.1-openapi3-snippets.yaml` in the npm package
//! `@mojaloop/api-snippets` into `crates/fspiop/schema/fspiop-v1.1.json`, which is embedded
//! here with `include_str!`. This module turns those OpenAPI 3.0 schema objects into JSON
//! Schema (draft 4 semantics, which is what OpenAPI 3.0 is based on), compiles one
//! [`jsonschema`] validator per [`BodyKind`] once, and reports the single most relevant
//! violation as a [`SchemaViolation`] whose [`ViolationKind`] maps to the FSPIOP error code
//! the reference switch uses (fspiop.md §6.2).
//!
//! # OpenAPI 3.0 → JSON Schema
//!
//! * `example` / `examples` and other OpenAPI-only annotations (`discriminator`, `readOnly`,
//!   `writeOnly`, `xml`, `externalDocs`, `deprecated`) are dropped.
//! * `nullable: true` adds `"null"` to `type` (and `null` to `enum`, if any); as OpenAPI 3.0.3
//!   clarifies, it has no effect on a schema object without `type`.
//! * `$ref: '#/components/schemas/X'` is resolved by registering the whole `components`
//!   document as one resource in a [`jsonschema::Registry`]; each body validator is just a
//!   `$ref` into it.
//! * Unknown properties stay allowed: no v1.1 schema says `additionalProperties: false`.
//!
//! # ECMAScript patterns
//!
//! `jsonschema` 0.61 translates ECMAScript syntax to the Rust engines itself (`\d`, `\w` and
//! `\s` get their ECMAScript meaning, `.` excludes all line terminators, class-set hyphens are
//! escaped), and Unicode property escapes such as `\p{L}`, `\p{gc=Mark}`, `\p{digit}` (an
//! ECMAScript alias of `Nd`), `\p{gc=Connector_Punctuation}` and `\p{Join_Control}` mean the
//! same in `regex-syntax`. It does **not** translate a pattern that contains a look-around: it
//! hands such a pattern untranslated to `fancy-regex` (its default engine). For the one
//! look-around the FSPIOP schemas use, the "not blank" prefix of the name patterns, that is
//! both slow (≈75 ms to compile the `{1,128}` repetition of a Unicode class behind a
//! look-ahead in a debug build, against ≈12 ms for all 19 body validators after the rewrite)
//! and subtly non-ECMAScript (`\w` and `\s` keep their Rust Unicode meaning). So the loader
//! rewrites exactly that construct:
//!
//! ```text
//! { "pattern": "^(?!\\s*$)REST" }
//!   ⇒ { "pattern": "^REST", "allOf": [ { "not": { "type": "string", "pattern": "^\\s*$" } } ] }
//! ```
//!
//! Without the `m` flag `$` is the end of input, so `(?!\s*$)` at position 0 means "the string
//! is not entirely ECMAScript whitespace", which is what the `not` says; `^REST` is the rest of
//! the original pattern, anchored as before. Both remaining patterns have no look-around, so
//! `jsonschema` translates them (ECMAScript `\s`, `\w`) and can use its fast repeated-class
//! matcher. Affected components in v1.1: `FirstName`, `MiddleName`, `LastName`
//! (`^(?!\s*$)[\p{L}\p{gc=Mark}\p{digit}\p{gc=Connector_Punctuation}\p{Join_Control} .,''-]{1,128}$`)
//! and `Name` (`^(?!\s*$)[\w .,'-]{1,128}$`, not referenced by any body; note that with
//! ECMAScript semantics its `\w` is ASCII only, as in ajv). Validators are built with the
//! plain `regex` engine (linear time, no backtracking on untrusted input); a future pattern
//! with another look-around would therefore fail to load loudly rather than silently.
//!
//! # Which violation is reported
//!
//! All violations are collected and one is chosen, by this rank (then the shallowest, then
//! the first in the validator's order):
//!
//! 1. the body is not a JSON object ([`ViolationKind::Malformed`], pointer `""`);
//! 2. a required element is missing ([`ViolationKind::Missing`], 3102);
//! 3. too many elements, `maxItems`/`additionalProperties` ([`ViolationKind::TooMany`], 3103);
//! 4. a value of the wrong JSON type ([`ViolationKind::Malformed`], 3101);
//! 5. anything else: pattern, enum, length, `minItems`, … ([`ViolationKind::Invalid`], 3100).
//!
//! Structural problems come first because they usually cause the value-level ones (a DFSP
//! that omits a field or sends a number where a string belongs has a different bug from one
//! that sends a badly formatted string), and because that is the order a DFSP engineer fixes
//! things in.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{Draft, PatternCache, PatternOptions, Registry, ValidationError, Validator};
use serde_json::{Map, Value, json};

use crate::error::{ErrorCode, FspiopError};

/// The generated OpenAPI extract (see `scripts/refresh-fspiop-schema`).
const SPEC_JSON: &str = include_str!("../schema/fspiop-v1.1.json");

/// Base URI under which the `components` document is registered. Never fetched.
const BASE_URI: &str = "https://ferroloop.invalid/fspiop/v1.1/openapi.json";

/// Prefix of every schema reference in the OpenAPI document.
const COMPONENT_REF_PREFIX: &str = "#/components/schemas/";

/// The ECMAScript "not only whitespace" look-ahead the name patterns start with.
const NOT_BLANK_LOOKAHEAD: &str = r"^(?!\s*$)";

/// The pattern of a string consisting only of whitespace (ECMAScript `\s`, after translation).
const BLANK_PATTERN: &str = r"^\s*$";

/// Longest message a [`SchemaViolation`] carries, in characters.
const MAX_MESSAGE_CHARS: usize = 100;

/// Which request body is being validated, one per FSPIOP v1.1 request with a body.
///
/// The mapping to OpenAPI operations is [`BodyKind::from_operation`]; the schema each kind
/// uses is looked up in the generated OpenAPI extract at load time (see
/// [`BodySchemas::schema_name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BodyKind {
    /// `PUT /parties/{Type}/{ID}[/{SubId}]`
    PartiesPut,
    /// `POST /participants/{Type}/{ID}[/{SubId}]`
    ParticipantsPost,
    /// `POST /participants`
    ParticipantsBatchPost,
    /// `PUT /participants/{Type}/{ID}[/{SubId}]`
    ParticipantsPut,
    /// `PUT /participants/{ID}`
    ParticipantsBatchPut,
    /// `POST /quotes`
    QuotesPost,
    /// `PUT /quotes/{ID}`
    QuotesPut,
    /// `POST /transfers`
    TransfersPost,
    /// `PUT /transfers/{ID}`
    TransfersPut,
    /// `PATCH /transfers/{ID}`
    TransfersPatch,
    /// Any `PUT …/error`
    ErrorPut,
    /// `POST /transactionRequests`
    TransactionRequestsPost,
    /// `PUT /transactionRequests/{ID}`
    TransactionRequestsPut,
    /// `PUT /authorizations/{ID}`
    AuthorizationsPut,
    /// `POST /bulkQuotes`
    BulkQuotesPost,
    /// `PUT /bulkQuotes/{ID}`
    BulkQuotesPut,
    /// `POST /bulkTransfers`
    BulkTransfersPost,
    /// `PUT /bulkTransfers/{ID}`
    BulkTransfersPut,
    /// `PUT /transactions/{ID}`
    TransactionsPut,
}

impl BodyKind {
    /// Every kind, in declaration order.
    pub const ALL: [BodyKind; 19] = [
        BodyKind::PartiesPut,
        BodyKind::ParticipantsPost,
        BodyKind::ParticipantsBatchPost,
        BodyKind::ParticipantsPut,
        BodyKind::ParticipantsBatchPut,
        BodyKind::QuotesPost,
        BodyKind::QuotesPut,
        BodyKind::TransfersPost,
        BodyKind::TransfersPut,
        BodyKind::TransfersPatch,
        BodyKind::ErrorPut,
        BodyKind::TransactionRequestsPost,
        BodyKind::TransactionRequestsPut,
        BodyKind::AuthorizationsPut,
        BodyKind::BulkQuotesPost,
        BodyKind::BulkQuotesPut,
        BodyKind::BulkTransfersPost,
        BodyKind::BulkTransfersPut,
        BodyKind::TransactionsPut,
    ];

    /// The kind of body an OpenAPI operation takes, from its method (any case) and path
    /// template exactly as the OpenAPI spells it (`/transfers/{ID}`,
    /// `/parties/{Type}/{ID}/{SubId}/error`, …). Every `PUT` whose template ends in `/error`
    /// is [`BodyKind::ErrorPut`]. `None` for operations without a body.
    pub fn from_operation(method: &str, path_template: &str) -> Option<BodyKind> {
        use BodyKind::*;
        if method.eq_ignore_ascii_case("PUT") {
            if path_template.ends_with("/error") {
                return Some(ErrorPut);
            }
            Some(match path_template {
                "/parties/{Type}/{ID}" | "/parties/{Type}/{ID}/{SubId}" => PartiesPut,
                "/participants/{Type}/{ID}" | "/participants/{Type}/{ID}/{SubId}" => {
                    ParticipantsPut
                }
                "/participants/{ID}" => ParticipantsBatchPut,
                "/quotes/{ID}" => QuotesPut,
                "/transfers/{ID}" => TransfersPut,
                "/transactionRequests/{ID}" => TransactionRequestsPut,
                "/authorizations/{ID}" => AuthorizationsPut,
                "/bulkQuotes/{ID}" => BulkQuotesPut,
                "/bulkTransfers/{ID}" => BulkTransfersPut,
                "/transactions/{ID}" => TransactionsPut,
                _ => return None,
            })
        } else if method.eq_ignore_ascii_case("POST") {
            Some(match path_template {
                "/participants/{Type}/{ID}" | "/participants/{Type}/{ID}/{SubId}" => {
                    ParticipantsPost
                }
                "/participants" => ParticipantsBatchPost,
                "/quotes" => QuotesPost,
                "/transfers" => TransfersPost,
                "/transactionRequests" => TransactionRequestsPost,
                "/bulkQuotes" => BulkQuotesPost,
                "/bulkTransfers" => BulkTransfersPost,
                _ => return None,
            })
        } else if method.eq_ignore_ascii_case("PATCH") && path_template == "/transfers/{ID}" {
            Some(TransfersPatch)
        } else {
            None
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What is wrong with a body, mapped to the FSPIOP error code the reference switch uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A required element is absent (`required`) → 3102 Missing mandatory element.
    Missing,
    /// Too many elements (`additionalProperties`, `maxItems`) → 3103 Too many elements.
    TooMany,
    /// A value of the wrong JSON type, or a body that is not a JSON object → 3101 Malformed
    /// syntax.
    Malformed,
    /// Any other constraint (pattern, enum, length, `minItems`, …) → 3100 Generic validation
    /// error.
    Invalid,
}

impl ViolationKind {
    /// The FSPIOP error code for this kind of violation.
    pub fn error_code(self) -> ErrorCode {
        match self {
            ViolationKind::Missing => ErrorCode::MISSING_ELEMENT,
            ViolationKind::TooMany => ErrorCode::TOO_MANY_ELEMENTS,
            ViolationKind::Malformed => ErrorCode::MALFORMED_SYNTAX,
            ViolationKind::Invalid => ErrorCode::GENERIC_VALIDATION_ERROR,
        }
    }
}

/// The most relevant schema violation of a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaViolation {
    /// What kind of problem it is (and so which error code to answer with).
    pub kind: ViolationKind,
    /// JSON pointer (RFC 6901) of the offending value; `""` is the whole body. For
    /// [`ViolationKind::Missing`] it points at the absent member itself (the parent's pointer
    /// plus `/name`), for an unexpected property at that property.
    pub pointer: String,
    /// One line for the DFSP engineer, at most 100 characters, naming the field first, e.g.
    /// `transferId: does not match the UUID pattern (lower-case, versions 1-5)`.
    pub message: String,
}

impl SchemaViolation {
    /// The FSPIOP error for this violation: the kind's code with the message as detail.
    pub fn to_fspiop_error(&self) -> FspiopError {
        FspiopError::new(self.kind.error_code(), &self.message)
    }
}

impl fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SchemaViolation {}

/// Compiled validators for every FSPIOP v1.1 request body.
pub struct BodySchemas {
    validators: Vec<Validator>,
    schema_names: Vec<String>,
    /// Component name of each (translated) pattern and enum, to word messages.
    pattern_owner: HashMap<String, String>,
    enum_owner: HashMap<String, String>,
}

impl fmt::Debug for BodySchemas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodySchemas")
            .field("schema_names", &self.schema_names)
            .finish_non_exhaustive()
    }
}

impl BodySchemas {
    /// The validators for FSPIOP v1.1, compiled on first use (a few milliseconds) and shared
    /// for the life of the process. Call it once at startup to pay that cost early.
    ///
    /// # Panics
    ///
    /// If the embedded schema document does not load, which the tests of this module rule
    /// out for the committed document.
    pub fn v1_1() -> &'static BodySchemas {
        static SCHEMAS: OnceLock<BodySchemas> = OnceLock::new();
        SCHEMAS.get_or_init(
            || match Loaded::parse().and_then(|loaded| loaded.body_schemas()) {
                Ok(schemas) => schemas,
                // Only the document compiled into the binary is loaded here, never input, and
                // the tests of this module load it; there is no `Result` to return from a
                // `&'static` accessor, and a hub without its body schemas must not start.
                #[allow(clippy::panic)]
                Err(error) => panic!("embedded FSPIOP v1.1 schema does not load: {error}"),
            },
        )
    }

    /// The OpenAPI component name of the schema a kind of body is validated against, e.g.
    /// `TransfersPostRequest`.
    pub fn schema_name(&self, kind: BodyKind) -> &str {
        // `body_schemas` builds one name per `BodyKind::ALL` entry, so this always finds it.
        self.schema_names
            .get(kind.index())
            .map_or("", String::as_str)
    }

    /// Validates a parsed request body, returning the most relevant violation (see the module
    /// documentation for how it is chosen).
    pub fn validate(&self, kind: BodyKind, body: &Value) -> Result<(), SchemaViolation> {
        if !body.is_object() {
            return Err(SchemaViolation {
                kind: ViolationKind::Malformed,
                pointer: String::new(),
                message: format!("body: must be a JSON object, not {}", json_type_a(body)),
            });
        }
        // `body_schemas` compiles one validator per `BodyKind::ALL` entry; should one ever be
        // missing, fail closed.
        let Some(validator) = self.validators.get(kind.index()) else {
            return Err(SchemaViolation {
                kind: ViolationKind::Invalid,
                pointer: String::new(),
                message: format!("body: no {kind:?} schema to validate against"),
            });
        };
        if validator.is_valid(body) {
            return Ok(());
        }
        let best = validator
            .iter_errors(body)
            .map(|error| self.describe(&error))
            .min_by_key(|candidate| (candidate.rank, candidate.depth));
        match best {
            Some(candidate) => Err(candidate.violation),
            // `is_valid` and `iter_errors` disagreeing would be a jsonschema bug; fail closed.
            None => Err(SchemaViolation {
                kind: ViolationKind::Invalid,
                pointer: String::new(),
                message: format!("body: does not match the {} schema", self.schema_name(kind)),
            }),
        }
    }

    /// Turns one `jsonschema` error into a ranked candidate violation.
    fn describe(&self, error: &ValidationError<'_>) -> Candidate {
        let mut segments: Vec<Segment> = error
            .instance_path()
            .segments()
            .map(|segment| match segment {
                LocationSegment::Property(name) => Segment::Name(name.into_owned()),
                LocationSegment::Index(index) => Segment::Index(index),
            })
            .collect();
        let instance = error.instance();
        let (kind, problem) = match error.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property
                    .as_str()
                    .map_or_else(|| property.to_string(), str::to_owned);
                segments.push(Segment::Name(name));
                (
                    ViolationKind::Missing,
                    "required element is missing".to_owned(),
                )
            }
            ValidationErrorKind::MaxItems { limit } => {
                let count = instance.as_array().map_or(0, Vec::len);
                (
                    ViolationKind::TooMany,
                    format!("{count} items, at most {limit} allowed"),
                )
            }
            ValidationErrorKind::AdditionalItems { limit } => (
                ViolationKind::TooMany,
                format!("at most {limit} items allowed"),
            ),
            ValidationErrorKind::MaxProperties { limit } => (
                ViolationKind::TooMany,
                format!("at most {limit} members allowed"),
            ),
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                if let Some(first) = unexpected.first() {
                    segments.push(Segment::Name(first.clone()));
                }
                (ViolationKind::TooMany, "unexpected element".to_owned())
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(single) => single.as_str().to_owned(),
                    TypeKind::Multiple(set) => set
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(" or "),
                };
                let problem = format!(
                    "must be {} {expected}, not {}",
                    article(&expected),
                    json_type_a(instance)
                );
                (ViolationKind::Malformed, problem)
            }
            ValidationErrorKind::Pattern { pattern } => {
                let owner = self.pattern_owner.get(pattern).map(String::as_str);
                (ViolationKind::Invalid, pattern_problem(owner))
            }
            ValidationErrorKind::Enum { options } => {
                let owner = self
                    .enum_owner
                    .get(&options.to_string())
                    .map(String::as_str);
                (ViolationKind::Invalid, enum_problem(owner, options))
            }
            ValidationErrorKind::MinLength { limit } => (
                ViolationKind::Invalid,
                format!(
                    "must be at least {limit} {} long",
                    plural(*limit, "character")
                ),
            ),
            ValidationErrorKind::MaxLength { limit } => (
                ViolationKind::Invalid,
                format!(
                    "must be at most {limit} {} long",
                    plural(*limit, "character")
                ),
            ),
            ValidationErrorKind::MinItems { limit } => (
                ViolationKind::Invalid,
                format!("must have at least {limit} {}", plural(*limit, "item")),
            ),
            ValidationErrorKind::Not { schema } if is_blank_check(schema) => {
                (ViolationKind::Invalid, "must not be blank".to_owned())
            }
            ValidationErrorKind::AnyOf { .. } | ValidationErrorKind::OneOfNotValid { .. } => (
                ViolationKind::Invalid,
                "does not match any of the allowed forms".to_owned(),
            ),
            ValidationErrorKind::OneOfMultipleValid { .. } => (
                ViolationKind::Invalid,
                "matches more than one allowed form".to_owned(),
            ),
            other => (
                ViolationKind::Invalid,
                format!("violates the '{}' constraint", other.keyword()),
            ),
        };
        let rank = match kind {
            ViolationKind::Malformed if segments.is_empty() => 0,
            ViolationKind::Missing => 1,
            ViolationKind::TooMany => 2,
            ViolationKind::Malformed => 3,
            ViolationKind::Invalid => 4,
        };
        Candidate {
            rank,
            depth: segments.len(),
            violation: SchemaViolation {
                kind,
                pointer: json_pointer(&segments),
                message: compose_message(&display_path(&segments), &problem),
            },
        }
    }
}

/// A violation with the keys it is chosen by.
struct Candidate {
    rank: u8,
    depth: usize,
    violation: SchemaViolation,
}

/// One step of an instance location.
enum Segment {
    Name(String),
    Index(usize),
}

fn json_pointer(segments: &[Segment]) -> String {
    let mut pointer = String::new();
    for segment in segments {
        pointer.push('/');
        match segment {
            Segment::Name(name) => pointer.push_str(&name.replace('~', "~0").replace('/', "~1")),
            Segment::Index(index) => pointer.push_str(&index.to_string()),
        }
    }
    pointer
}

/// `payer.partyIdInfo.partyIdentifier`, `extensionList.extension[3].key`, or `body`.
fn display_path(segments: &[Segment]) -> String {
    let mut path = String::new();
    for segment in segments {
        match segment {
            Segment::Name(name) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
            }
            Segment::Index(index) => {
                path.push('[');
                path.push_str(&index.to_string());
                path.push(']');
            }
        }
    }
    if path.is_empty() {
        "body".to_owned()
    } else {
        path
    }
}

/// `"{path}: {problem}"`, at most [`MAX_MESSAGE_CHARS`] characters: an over-long path loses
/// its beginning (the field name at its end is the useful part), then the problem is cut.
fn compose_message(path: &str, problem: &str) -> String {
    let problem_chars = problem.chars().count();
    let path_chars = path.chars().count();
    let budget = MAX_MESSAGE_CHARS.saturating_sub(problem_chars.saturating_add(2));
    let path = if path_chars <= budget {
        path.to_owned()
    } else if budget > 1 {
        // Keep the last `budget - 1` characters (here `1 <= budget - 1 < path_chars`).
        let skip = path_chars.saturating_sub(budget.saturating_sub(1));
        let tail: String = path.chars().skip(skip).collect();
        format!("…{tail}")
    } else {
        path.to_owned()
    };
    let message = format!("{path}: {problem}");
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        message
    } else {
        let mut cut: String = message.chars().take(MAX_MESSAGE_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// "a string", "an array", "null".
fn json_type_a(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        other => {
            let name = json_type(other);
            format!("{} {name}", article(name))
        }
    }
}

fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        noun.to_owned()
    } else {
        format!("{noun}s")
    }
}

fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// What a failed `pattern` means, by the component that owns the pattern.
fn pattern_problem(owner: Option<&str>) -> String {
    let text = match owner {
        Some("CorrelationId") => "does not match the UUID pattern (lower-case, versions 1-5)",
        Some("Amount") => "not an Amount (≤18 digits, ≤4 decimals, no leading/trailing zeros)",
        Some("DateTime") => "not a DateTime like 2016-05-24T08:38:08.699Z (3 fraction digits)",
        Some("Date" | "DateOfBirth") => "not a date like 2016-05-24",
        Some("IlpCondition" | "IlpFulfilment" | "BinaryString32") => {
            "must be 43 base64url characters"
        }
        Some("IlpPacket" | "BinaryString") => "must be base64url text",
        Some("ErrorCode") => "must be a 4-digit error code",
        Some("FirstName" | "MiddleName" | "LastName" | "Name") => {
            "contains characters not allowed in a name"
        }
        Some("Latitude") => "not a latitude (-90 to 90, up to 6 decimals)",
        Some("Longitude") => "not a longitude (-180 to 180, up to 6 decimals)",
        Some("MerchantClassificationCode") => "must be 1 to 4 digits",
        Some("BalanceOfPayments") => "must be a 3-digit code not starting with 0",
        Some("TransactionSubScenario") => "must be 1 to 32 upper-case letters or underscores",
        Some("OtpValue") => "must be 3 to 10 digits",
        Some("Integer") => "must be a positive integer without leading zeros",
        Some(name) => return format!("does not match the {name} pattern"),
        None => "does not match the required pattern",
    };
    text.to_owned()
}

/// What a failed `enum` means: the allowed values if they fit, else the component name.
fn enum_problem(owner: Option<&str>, options: &Value) -> String {
    if owner == Some("Currency") {
        return "not a supported ISO 4217 currency code".to_owned();
    }
    let values: Vec<String> = options
        .as_array()
        .map(|values| {
            values
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let listed = values.join(", ");
    if !values.is_empty() && listed.chars().count() <= 60 {
        format!("must be one of {listed}")
    } else if let Some(owner) = owner {
        format!("not an allowed {owner} value")
    } else {
        "not an allowed value".to_owned()
    }
}

/// The subschema the look-ahead rewrite puts under `not`.
fn blank_check() -> Value {
    json!({ "type": "string", "pattern": BLANK_PATTERN })
}

fn is_blank_check(schema: &Value) -> bool {
    *schema == blank_check()
}

/// Rewrites a pattern the regex engines cannot run (or not quickly) into an equivalent
/// pattern plus an extra subschema; `None` if the pattern needs no rewrite.
fn rewrite_pattern(pattern: &str) -> Option<(String, Value)> {
    let rest = pattern.strip_prefix(NOT_BLANK_LOOKAHEAD)?;
    Some((format!("^{rest}"), json!({ "not": blank_check() })))
}

/// Turns one OpenAPI 3.0 schema object (and its subschemas) into JSON Schema, in place.
fn openapi_to_json_schema(schema: &mut Value) {
    let Value::Object(object) = schema else {
        return;
    };
    for annotation in [
        "example",
        "examples",
        "discriminator",
        "readOnly",
        "writeOnly",
        "xml",
        "externalDocs",
        "deprecated",
    ] {
        object.remove(annotation);
    }
    for key in ["items", "additionalProperties", "not"] {
        match object.get_mut(key) {
            Some(Value::Array(items)) => items.iter_mut().for_each(openapi_to_json_schema),
            Some(sub) => openapi_to_json_schema(sub),
            None => {}
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(subs)) = object.get_mut(key) {
            subs.iter_mut().for_each(openapi_to_json_schema);
        }
    }
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        properties.values_mut().for_each(openapi_to_json_schema);
    }
    if let Some(Value::String(pattern)) = object.get("pattern")
        && let Some((pattern, extra)) = rewrite_pattern(pattern)
    {
        object.insert("pattern".to_owned(), Value::String(pattern));
        match object
            .entry("allOf")
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(all_of) => all_of.push(extra),
            other => *other = Value::Array(vec![extra]),
        }
    }
    if let Some(nullable) = object.remove("nullable")
        && nullable == Value::Bool(true)
        && let Some(ty) = object.get_mut("type")
    {
        match ty {
            Value::String(single) => *ty = json!([single.clone(), "null"]),
            Value::Array(types) if !types.contains(&json!("null")) => types.push(json!("null")),
            _ => {}
        }
        if let Some(Value::Array(values)) = object.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
}

/// The embedded document, parsed and translated, before compilation.
struct Loaded {
    /// `{"components": {"schemas": {...}}}` with JSON Schema semantics.
    components: Value,
    /// The same `schemas` map, kept typed for iteration.
    schemas: Map<String, Value>,
    /// `"METHOD /path"` → component name of the request body.
    request_bodies: BTreeMap<String, String>,
    #[cfg_attr(not(test), allow(dead_code))]
    provenance: Map<String, Value>,
}

impl Loaded {
    fn parse() -> Result<Loaded, String> {
        let mut document: Value =
            serde_json::from_str(SPEC_JSON).map_err(|e| format!("not JSON: {e}"))?;
        let provenance = match document.get_mut("provenance").map(Value::take) {
            Some(Value::Object(provenance)) => provenance,
            _ => return Err("no provenance header".to_owned()),
        };
        let mut schemas = match document.pointer_mut("/components/schemas").map(Value::take) {
            Some(Value::Object(schemas)) => schemas,
            _ => return Err("no components.schemas".to_owned()),
        };
        schemas.values_mut().for_each(openapi_to_json_schema);
        let mut request_bodies = BTreeMap::new();
        let Some(Value::Object(bodies)) = document.get("requestBodies") else {
            return Err("no requestBodies".to_owned());
        };
        for (operation, body) in bodies {
            let name = body
                .get("schema")
                .and_then(Value::as_str)
                .and_then(|reference| reference.strip_prefix(COMPONENT_REF_PREFIX))
                .filter(|name| schemas.contains_key(*name))
                .ok_or_else(|| format!("{operation}: body schema is not a known component"))?;
            request_bodies.insert(operation.clone(), name.to_owned());
        }
        Ok(Loaded {
            components: json!({ "components": { "schemas": schemas.clone() } }),
            schemas,
            request_bodies,
            provenance,
        })
    }

    fn schemas(&self) -> &Map<String, Value> {
        &self.schemas
    }

    /// The component each kind's body uses, from the OpenAPI request-body map.
    fn schema_names(&self) -> Result<Vec<String>, String> {
        BodyKind::ALL
            .iter()
            .map(|&kind| {
                let mut names = self.request_bodies.iter().filter_map(|(operation, name)| {
                    let (method, path) = operation.split_once(' ')?;
                    (BodyKind::from_operation(method, path) == Some(kind)).then_some(name)
                });
                let first = names
                    .next()
                    .ok_or_else(|| format!("{kind:?}: no OpenAPI operation"))?;
                if let Some(other) = names.find(|name| *name != first) {
                    return Err(format!(
                        "{kind:?}: operations disagree ({first} vs {other})"
                    ));
                }
                Ok(first.clone())
            })
            .collect()
    }

    /// Compiles validators for the named components, sharing one registry and regex cache.
    fn compile<'n>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<Vec<Validator>, String> {
        let registry = Registry::new()
            .draft(Draft::Draft4)
            .add(BASE_URI, &self.components)
            .and_then(|builder| builder.prepare())
            .map_err(|e| format!("registry: {e}"))?;
        let cache = PatternCache::new();
        names
            .into_iter()
            .map(|name| {
                let root = json!({ "$ref": format!("{BASE_URI}{COMPONENT_REF_PREFIX}{name}") });
                jsonschema::options()
                    .with_draft(Draft::Draft4)
                    .with_registry(&registry)
                    .with_pattern_options(PatternOptions::regex())
                    .with_pattern_cache(cache.clone())
                    .build(&root)
                    .map_err(|e| format!("{name}: {e}"))
            })
            .collect()
    }

    fn body_schemas(self) -> Result<BodySchemas, String> {
        let schema_names = self.schema_names()?;
        let validators = self.compile(schema_names.iter().map(String::as_str))?;
        let mut pattern_owner = HashMap::new();
        let mut enum_owner = HashMap::new();
        for (name, schema) in self.schemas() {
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
                pattern_owner
                    .entry(pattern.to_owned())
                    .or_insert_with(|| name.clone());
            }
            if let Some(options) = schema.get("enum") {
                enum_owner
                    .entry(options.to_string())
                    .or_insert_with(|| name.clone());
            }
        }
        Ok(BodySchemas {
            validators,
            schema_names,
            pattern_owner,
            enum_owner,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// SHA-256 of `docs/fspiop-rest-v1.1-openapi3-snippets.yaml` in
    /// `@mojaloop/api-snippets@18.3.2`, computed independently of the script with `sha256sum`.
    const YAML_SHA256: &str = "0cb1f3f46f4e3be7a5054a433d6371bf8df3c2953e32d236342402061009eddd";
    /// SHA-256 of the committed `schema/fspiop-v1.1.json` as the script wrote it. A hand edit
    /// fails this test; re-run `scripts/refresh-fspiop-schema` and update both constants.
    const JSON_SHA256: &str = "e14e47afed2dab0d2bc8f021bc724734808ee1de5df1c8c0a5291744ef836cfd";

    const CONDITION: &str = "b1Y66n__UFjsZwbUO_A5Si9TiRs7qzPHYW21Dk_jByU";
    const FULFILMENT: &str = "nqOD3wDWJInSxqt8pge6Ud1PDUn5Ahuu6V6odYyAVZY";
    const ILP_PACKET: &str =
        "AYJmZXJyb2xvb3AgdGVzdCBpbHAgcGFja2V0IHBheWxvYWQsIG5vdCBhIHJlYWwgSUxQIHBhY2tldA==";
    const ID1: &str = "b51ec534-ee48-4575-b6a9-ead2955b8069";
    const ID2: &str = "7c23e80c-d078-4077-8263-2c047876fcf6";
    const ID3: &str = "a8323bc6-c228-4df2-ae82-e5a997baf898";
    const NOW: &str = "2016-05-24T08:38:08.699-04:00";

    fn schemas() -> &'static BodySchemas {
        BodySchemas::v1_1()
    }

    fn violation(kind: BodyKind, body: &Value) -> SchemaViolation {
        let violation = schemas()
            .validate(kind, body)
            .expect_err("the body should be rejected");
        assert!(
            violation.message.chars().count() <= MAX_MESSAGE_CHARS,
            "message too long: {}",
            violation.message
        );
        violation
    }

    fn party_id_info() -> Value {
        json!({ "partyIdType": "MSISDN", "partyIdentifier": "16135551212", "fspId": "payerfsp" })
    }

    fn party() -> Value {
        json!({
            "partyIdInfo": party_id_info(),
            "merchantClassificationCode": "4321",
            "name": "Henrik Karlsson",
            "personalInfo": {
                "complexName": { "firstName": "Henrik", "middleName": "Johannes", "lastName": "Karlsson" },
                "dateOfBirth": "1966-06-16"
            }
        })
    }

    fn money(amount: &str) -> Value {
        json!({ "currency": "USD", "amount": amount })
    }

    fn transaction_type() -> Value {
        json!({ "scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER" })
    }

    fn extension_list(n: usize) -> Value {
        let extension: Vec<Value> = (0..n)
            .map(|i| json!({ "key": format!("k{i}"), "value": format!("v{i}") }))
            .collect();
        json!({ "extension": extension })
    }

    fn transfers_post() -> Value {
        json!({
            "transferId": ID1,
            "payerFsp": "payerfsp",
            "payeeFsp": "payeefsp",
            "amount": money("123.45"),
            "ilpPacket": ILP_PACKET,
            "condition": CONDITION,
            "expiration": "2016-05-24T08:38:08.699Z",
            "extensionList": extension_list(2)
        })
    }

    fn quotes_post() -> Value {
        json!({
            "quoteId": ID1,
            "transactionId": ID2,
            "transactionRequestId": ID3,
            "payee": { "partyIdInfo": party_id_info() },
            "payer": party(),
            "amountType": "SEND",
            "amount": money("100"),
            "fees": money("0.0001"),
            "transactionType": {
                "scenario": "REFUND",
                "subScenario": "LOCALLY_DEFINED",
                "initiator": "PAYEE",
                "initiatorType": "BUSINESS",
                "refundInfo": { "originalTransactionId": ID3, "refundReason": "returned goods" },
                "balanceOfPayments": "123"
            },
            "geoCode": { "latitude": "+45.4215", "longitude": "-75.6972" },
            "note": "a note",
            "expiration": NOW
        })
    }

    fn valid_examples() -> Vec<(BodyKind, Value)> {
        use BodyKind::*;
        vec![
            (PartiesPut, json!({ "party": party() })),
            (
                ParticipantsPost,
                json!({ "fspId": "payeefsp", "currency": "EUR" }),
            ),
            (
                ParticipantsBatchPost,
                json!({ "requestId": ID1, "partyList": [party_id_info()], "currency": "USD" }),
            ),
            (ParticipantsPut, json!({ "fspId": "payeefsp" })),
            (
                ParticipantsBatchPut,
                json!({
                    "partyList": [
                        { "partyId": party_id_info() },
                        { "partyId": party_id_info(),
                          "errorInformation": { "errorCode": "3204", "errorDescription": "Party not found" } }
                    ],
                    "currency": "USD"
                }),
            ),
            (QuotesPost, quotes_post()),
            (
                QuotesPut,
                json!({
                    "transferAmount": money("100"),
                    "payeeReceiveAmount": money("99.5"),
                    "payeeFspFee": money("0.5"),
                    "payeeFspCommission": money("0"),
                    "expiration": NOW,
                    "ilpPacket": ILP_PACKET,
                    "condition": CONDITION
                }),
            ),
            (TransfersPost, transfers_post()),
            (
                TransfersPut,
                json!({
                    "fulfilment": FULFILMENT,
                    "completedTimestamp": "2016-05-24T08:38:08.699Z",
                    "transferState": "COMMITTED"
                }),
            ),
            (
                TransfersPatch,
                json!({ "completedTimestamp": "2016-05-24T08:38:08.699Z", "transferState": "COMMITTED" }),
            ),
            (
                ErrorPut,
                json!({ "errorInformation": {
                    "errorCode": "5100",
                    "errorDescription": "Generic Payee rejection",
                    "extensionList": extension_list(1)
                } }),
            ),
            (
                TransactionRequestsPost,
                json!({
                    "transactionRequestId": ID1,
                    "payee": party(),
                    "payer": party_id_info(),
                    "amount": money("10"),
                    "transactionType": transaction_type(),
                    "authenticationType": "OTP",
                    "expiration": NOW
                }),
            ),
            (
                TransactionRequestsPut,
                json!({ "transactionId": ID2, "transactionRequestState": "RECEIVED" }),
            ),
            (
                AuthorizationsPut,
                json!({
                    "authenticationInfo": { "authentication": "OTP", "authenticationValue": "123456" },
                    "responseType": "ENTERED"
                }),
            ),
            (
                BulkQuotesPost,
                json!({
                    "bulkQuoteId": ID1,
                    "payer": party(),
                    "individualQuotes": [{
                        "quoteId": ID2,
                        "transactionId": ID3,
                        "payee": party(),
                        "amountType": "RECEIVE",
                        "amount": money("5"),
                        "transactionType": transaction_type()
                    }]
                }),
            ),
            (
                BulkQuotesPut,
                json!({
                    "expiration": NOW,
                    "individualQuoteResults": [{
                        "quoteId": ID2,
                        "transferAmount": money("5"),
                        "ilpPacket": ILP_PACKET,
                        "condition": CONDITION
                    }]
                }),
            ),
            (
                BulkTransfersPost,
                json!({
                    "bulkTransferId": ID1,
                    "bulkQuoteId": ID2,
                    "payerFsp": "payerfsp",
                    "payeeFsp": "payeefsp",
                    "individualTransfers": [{
                        "transferId": ID3,
                        "transferAmount": money("5"),
                        "ilpPacket": ILP_PACKET,
                        "condition": CONDITION
                    }],
                    "expiration": NOW
                }),
            ),
            (
                BulkTransfersPut,
                json!({
                    "completedTimestamp": NOW,
                    "individualTransferResults": [{ "transferId": ID3, "fulfilment": FULFILMENT }],
                    "bulkTransferState": "COMPLETED"
                }),
            ),
            (
                TransactionsPut,
                json!({ "completedTimestamp": NOW, "transactionState": "COMPLETED", "code": "Test123" }),
            ),
        ]
    }

    #[test]
    fn schema_every_kind_maps_to_an_existing_component() {
        let loaded = Loaded::parse().unwrap();
        let names = loaded.schema_names().unwrap();
        for (kind, name) in BodyKind::ALL.iter().zip(&names) {
            assert!(loaded.schemas().contains_key(name), "{kind:?} → {name}");
            assert_eq!(schemas().schema_name(*kind), name);
        }
        assert_eq!(
            schemas().schema_name(BodyKind::TransfersPost),
            "TransfersPostRequest"
        );
        assert_eq!(
            schemas().schema_name(BodyKind::ErrorPut),
            "ErrorInformationObject"
        );
        assert_eq!(
            schemas().schema_name(BodyKind::ParticipantsPost),
            "ParticipantsTypeIDSubIDPostRequest"
        );
        assert_eq!(
            schemas().schema_name(BodyKind::ParticipantsBatchPut),
            "ParticipantsIDPutResponse"
        );
        // Every OpenAPI operation with a body is covered by some kind.
        for operation in loaded.request_bodies.keys() {
            let (method, path) = operation.split_once(' ').unwrap();
            assert!(
                BodyKind::from_operation(method, path).is_some(),
                "unmapped: {operation}"
            );
        }
        assert_eq!(loaded.request_bodies.len(), 33);
        assert!(
            BodyKind::ALL
                .iter()
                .enumerate()
                .all(|(i, kind)| kind.index() == i)
        );
    }

    #[test]
    fn schema_embedded_document_is_the_generated_one() {
        let digest: String = Sha256::digest(SPEC_JSON.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(digest, JSON_SHA256);
        let loaded = Loaded::parse().unwrap();
        let p = &loaded.provenance;
        assert_eq!(p["sha256"], YAML_SHA256);
        assert_eq!(p["package"], "@mojaloop/api-snippets");
        assert_eq!(p["version"], "18.3.2");
        assert_eq!(p["file"], "docs/fspiop-rest-v1.1-openapi3-snippets.yaml");
        assert_eq!(p["license"], "Apache-2.0");
        assert_eq!(p["api_version"], "1.1");
    }

    #[test]
    fn schema_build_time() {
        let start = std::time::Instant::now();
        let built = Loaded::parse().and_then(Loaded::body_schemas).unwrap();
        let elapsed = start.elapsed();
        println!(
            "built {} FSPIOP v1.1 body validators in {elapsed:?}",
            built.validators.len()
        );
    }

    #[test]
    fn schema_valid_examples_are_accepted() {
        let examples = valid_examples();
        let mut kinds: Vec<BodyKind> = examples.iter().map(|(kind, _)| *kind).collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), BodyKind::ALL.len(), "one example per kind");
        for (kind, body) in examples {
            assert_eq!(schemas().validate(kind, &body), Ok(()), "{kind:?}: {body}");
        }
    }

    #[test]
    fn schema_unknown_properties_are_tolerated() {
        let mut body = transfers_post();
        body["somethingNew"] = json!({ "any": ["thing"] });
        body["amount"]["unexpected"] = json!(1);
        assert_eq!(schemas().validate(BodyKind::TransfersPost, &body), Ok(()));
    }

    #[test]
    fn schema_missing_required_element() {
        let mut body = transfers_post();
        body.as_object_mut().unwrap().remove("transferId");
        let v = violation(BodyKind::TransfersPost, &body);
        assert_eq!(v.kind, ViolationKind::Missing);
        assert_eq!(v.pointer, "/transferId");
        assert_eq!(v.message, "transferId: required element is missing");
        assert_eq!(v.kind.error_code(), ErrorCode::MISSING_ELEMENT);

        let mut body = quotes_post();
        body["payer"]["partyIdInfo"]
            .as_object_mut()
            .unwrap()
            .remove("partyIdType");
        let v = violation(BodyKind::QuotesPost, &body);
        assert_eq!(v.kind, ViolationKind::Missing);
        assert_eq!(v.pointer, "/payer/partyIdInfo/partyIdType");
        assert!(
            v.message.starts_with("payer.partyIdInfo.partyIdType: "),
            "{}",
            v.message
        );

        // An empty PUT /transfers/{ID} lacks transferState.
        let v = violation(BodyKind::TransfersPut, &json!({}));
        assert_eq!(
            (v.kind, v.pointer.as_str()),
            (ViolationKind::Missing, "/transferState")
        );
        // An error callback needs errorInformation.errorCode.
        let v = violation(
            BodyKind::ErrorPut,
            &json!({ "errorInformation": { "errorDescription": "x" } }),
        );
        assert_eq!(v.pointer, "/errorInformation/errorCode");
    }

    #[test]
    fn schema_too_many_elements() {
        let mut body = transfers_post();
        body["extensionList"] = extension_list(17);
        let v = violation(BodyKind::TransfersPost, &body);
        assert_eq!(v.kind, ViolationKind::TooMany);
        assert_eq!(v.pointer, "/extensionList/extension");
        assert_eq!(
            v.message,
            "extensionList.extension: 17 items, at most 16 allowed"
        );
        assert_eq!(v.kind.error_code(), ErrorCode::TOO_MANY_ELEMENTS);
        body["extensionList"] = extension_list(16);
        assert_eq!(schemas().validate(BodyKind::TransfersPost, &body), Ok(()));
    }

    #[test]
    fn schema_wrong_type_is_malformed() {
        let mut body = transfers_post();
        body["amount"]["amount"] = json!(123.45);
        let v = violation(BodyKind::TransfersPost, &body);
        assert_eq!(v.kind, ViolationKind::Malformed);
        assert_eq!(v.pointer, "/amount/amount");
        assert_eq!(v.message, "amount.amount: must be a string, not a number");
        assert_eq!(v.kind.error_code(), ErrorCode::MALFORMED_SYNTAX);

        for not_object in [json!([1]), json!("x"), json!(null), json!(3)] {
            let v = violation(BodyKind::TransfersPost, &not_object);
            assert_eq!((v.kind, v.pointer.as_str()), (ViolationKind::Malformed, ""));
            assert!(
                v.message.starts_with("body: must be a JSON object"),
                "{}",
                v.message
            );
        }
        let v = violation(
            BodyKind::QuotesPost,
            &json!({ "quoteId": ID1, "payer": [] }),
        );
        assert_eq!(
            v.kind,
            ViolationKind::Missing,
            "missing outranks a nested type error"
        );
    }

    #[test]
    fn schema_invalid_values() {
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "/transferId",
                json!("B51EC534-EE48-4575-B6A9-EAD2955B8069"),
                "transferId: does not match the UUID pattern",
            ),
            (
                "/transferId",
                json!("b51ec534-ee48-6575-b6a9-ead2955b8069"),
                "transferId: does not match the UUID pattern",
            ),
            (
                "/amount/currency",
                json!("XYZ"),
                "amount.currency: not a supported ISO 4217",
            ),
            (
                "/amount/currency",
                json!("usd"),
                "amount.currency: not a supported ISO 4217",
            ),
            (
                "/amount/amount",
                json!("1.50"),
                "amount.amount: not an Amount",
            ),
            (
                "/expiration",
                json!("2016-05-24T08:38:08Z"),
                "expiration: not a DateTime",
            ),
            (
                "/expiration",
                json!("2016-05-24T08:38:08.6991Z"),
                "expiration: not a DateTime",
            ),
            (
                "/condition",
                json!("short"),
                "condition: must be 43 base64url",
            ),
            (
                "/payerFsp",
                json!(""),
                "payerFsp: must be at least 1 character long",
            ),
            (
                "/payerFsp",
                json!("x".repeat(33)),
                "payerFsp: must be at most 32 characters",
            ),
        ];
        for (pointer, value, prefix) in cases {
            let mut body = transfers_post();
            *body.pointer_mut(pointer).unwrap() = value.clone();
            let v = violation(BodyKind::TransfersPost, &body);
            assert_eq!(v.kind, ViolationKind::Invalid, "{pointer} = {value}: {v:?}");
            assert_eq!(v.pointer, pointer);
            assert!(v.message.starts_with(prefix), "{value}: {}", v.message);
            assert_eq!(v.kind.error_code(), ErrorCode::GENERIC_VALIDATION_ERROR);
        }
        let v = violation(BodyKind::TransfersPut, &json!({ "transferState": "DONE" }));
        assert_eq!(
            v.message,
            "transferState: must be one of RECEIVED, RESERVED, COMMITTED, ABORTED"
        );
        let mut body = transfers_post();
        body["extensionList"] = json!({ "extension": [] });
        let v = violation(BodyKind::TransfersPost, &body);
        assert_eq!(
            (v.kind, v.message.as_str()),
            (
                ViolationKind::Invalid,
                "extensionList.extension: must have at least 1 item"
            )
        );
    }

    #[test]
    fn schema_amount_pattern() {
        for (amount, ok) in [
            ("0", true),
            ("100", true),
            ("123.45", true),
            ("0.0001", true),
            ("999999999999999999.9999", true),
            ("1.50", false),
            ("0.0", false),
            ("1.", false),
            ("01", false),
            ("1.12345", false),
            ("-1", false),
            ("1e3", false),
            ("1000000000000000000", false),
        ] {
            let mut body = transfers_post();
            body["amount"]["amount"] = json!(amount);
            assert_eq!(
                schemas().validate(BodyKind::TransfersPost, &body).is_ok(),
                ok,
                "{amount}"
            );
        }
    }

    #[test]
    fn schema_datetime_and_date_patterns() {
        for (value, ok) in [
            ("2016-05-24T08:38:08.699Z", true),
            ("2016-05-24T08:38:08.699+05:30", true),
            ("2016-02-29T23:59:59.000Z", true),
            ("2017-02-29T23:59:59.000Z", false),
            ("2016-05-24T08:38:08Z", false),
            ("2016-05-24T08:38:08.69Z", false),
            ("2016-05-24T08:38:08.6999Z", false),
            ("2016-05-24T24:00:00.000Z", false),
            ("2016-05-24 08:38:08.699Z", false),
            ("2016-05-24T08:38:08.699", false),
        ] {
            let mut body = transfers_post();
            body["expiration"] = json!(value);
            assert_eq!(
                schemas().validate(BodyKind::TransfersPost, &body).is_ok(),
                ok,
                "{value}"
            );
        }
        for (value, ok) in [
            ("1966-06-16", true),
            ("2000-02-29", true),
            ("1900-02-29", false),
            ("1966-6-16", false),
        ] {
            let mut body = json!({ "party": party() });
            body["party"]["personalInfo"]["dateOfBirth"] = json!(value);
            assert_eq!(
                schemas().validate(BodyKind::PartiesPut, &body).is_ok(),
                ok,
                "{value}"
            );
        }
    }

    #[test]
    fn schema_uuid_and_ilp_patterns() {
        for (value, ok) in [
            (ID1, true),
            ("b51ec534-ee48-1575-86a9-ead2955b8069", true),
            ("B51EC534-EE48-4575-B6A9-EAD2955B8069", false),
            ("b51ec534-ee48-4575-c6a9-ead2955b8069", false),
            ("b51ec534ee484575b6a9ead2955b8069", false),
            ("01ARZ3NDEKTSV4RRFFQ69G5FAV", false),
        ] {
            let mut body = transfers_post();
            body["transferId"] = json!(value);
            assert_eq!(
                schemas().validate(BodyKind::TransfersPost, &body).is_ok(),
                ok,
                "{value}"
            );
        }
        // `[A-Za-z0-9-_]`: ECMAScript reads `-` after a range as a literal.
        for (value, ok) in [
            ("-".repeat(43), true),
            ("_".repeat(43), true),
            (format!("{}=", &CONDITION[..42]), false),
            (format!("{CONDITION}A"), false),
        ] {
            let mut body = transfers_post();
            body["condition"] = json!(value);
            assert_eq!(
                schemas().validate(BodyKind::TransfersPost, &body).is_ok(),
                ok,
                "{value}"
            );
        }
        for (value, ok) in [
            ("AQ", true),
            ("AQ==", true),
            ("A-_b=", true),
            ("AQ===", false),
            ("A/+b", false),
        ] {
            let mut body = transfers_post();
            body["ilpPacket"] = json!(value);
            assert_eq!(
                schemas().validate(BodyKind::TransfersPost, &body).is_ok(),
                ok,
                "{value}"
            );
        }
    }

    fn first_name_result(name: &str) -> Result<(), SchemaViolation> {
        let mut body = json!({ "party": party() });
        body["party"]["personalInfo"]["complexName"]["firstName"] = json!(name);
        schemas().validate(BodyKind::PartiesPut, &body)
    }

    /// Samples for the name patterns: (input, valid as FirstName/MiddleName/LastName).
    const NAME_SAMPLES: &[(&str, bool)] = &[
        ("José", true),
        ("O'Brien-Smith", true),
        ("Henrik", true),
        ("Zoë", true),
        ("e\u{301}", true),   // combining acute accent: \p{gc=Mark}
        ("李小龙", true),     // \p{L}
        ("٣", true),          // Arabic-Indic digit three: \p{digit} (Nd)
        ("foo_bar", true),    // \p{gc=Connector_Punctuation}
        ("a\u{203f}b", true), // undertie, also Connector_Punctuation
        ("a\u{200d}b", true), // zero-width joiner: \p{Join_Control}
        (" a ", true),
        ("J. R. R.", true),
        ("a,b", true),
        ("   ", false), // the (?!\s*$) look-ahead
        (" ", false),
        ("", false),
        ("a<b", false),
        ("a\tb", false),
        ("a\u{3000}b", false), // ideographic space is not in the class
        ("\u{2164}", false),   // Roman numeral five is Nl, not \p{digit}
        ("a\"b", false),
        ("a’b", false), // typographic apostrophe: not in the class
    ];

    /// The rewritten `^(?!\s*$)[\p{L}…]{1,128}$` (FirstName, MiddleName, LastName).
    #[test]
    fn schema_rewritten_unicode_name_pattern() {
        for (name, ok) in NAME_SAMPLES {
            let result = first_name_result(name);
            assert_eq!(result.is_ok(), *ok, "{name:?}: {result:?}");
        }
        assert!(first_name_result(&"é".repeat(128)).is_ok());
        assert!(first_name_result(&"é".repeat(129)).is_err());
        let v = first_name_result("   ").unwrap_err();
        assert_eq!(v.kind, ViolationKind::Invalid);
        assert_eq!(v.pointer, "/party/personalInfo/complexName/firstName");
        assert_eq!(
            v.message,
            "party.personalInfo.complexName.firstName: must not be blank"
        );
        let v = first_name_result("a<b").unwrap_err();
        assert!(
            v.message
                .ends_with(": contains characters not allowed in a name"),
            "{}",
            v.message
        );
        for field in ["middleName", "lastName"] {
            let mut body = json!({ "party": party() });
            body["party"]["personalInfo"]["complexName"][field] = json!("   ");
            assert!(
                schemas().validate(BodyKind::PartiesPut, &body).is_err(),
                "{field}"
            );
        }
    }

    /// The rewrite agrees with the original look-ahead pattern run by fancy-regex (the
    /// engine `jsonschema` uses by default for look-arounds) on every sample.
    #[test]
    fn schema_name_rewrite_matches_the_original_pattern() {
        let raw: Value = serde_json::from_str(SPEC_JSON).unwrap();
        let original = raw["components"]["schemas"]["FirstName"]["pattern"]
            .as_str()
            .unwrap();
        assert!(original.starts_with(NOT_BLANK_LOOKAHEAD), "{original}");
        let start = std::time::Instant::now();
        let fancy = jsonschema::options()
            .with_draft(Draft::Draft4)
            .build(&json!({ "type": "string", "pattern": original }))
            .unwrap();
        println!(
            "original look-ahead FirstName pattern compiled by fancy-regex in {:?}",
            start.elapsed()
        );
        for (name, _) in NAME_SAMPLES {
            if name.is_empty() {
                continue; // minLength, not the pattern, rejects ""
            }
            assert_eq!(
                fancy.is_valid(&json!(name)),
                first_name_result(name).is_ok(),
                "{name:?}"
            );
        }
    }

    /// The rewritten `^(?!\s*$)[\w .,'-]{1,128}$` (component `Name`, referenced by no v1.1
    /// body, so checked through its own validator). With ECMAScript semantics `\w` is ASCII.
    #[test]
    fn schema_rewritten_ascii_name_pattern() {
        let loaded = Loaded::parse().unwrap();
        let name = &loaded.compile(["Name"]).unwrap()[0];
        for (value, ok) in [
            ("O'Brien-Smith", true),
            ("John_Doe 2.", true),
            (" a", true),
            ("   ", false),
            ("", false),
            ("a<b", false),
            ("José", false),
            ("a\tb", false),
        ] {
            assert_eq!(name.is_valid(&json!(value)), ok, "{value:?}");
        }
        let translated = &loaded.schemas()["Name"];
        assert_eq!(translated["pattern"], r"^[\w .,'-]{1,128}$");
        assert_eq!(translated["allOf"], json!([{ "not": blank_check() }]));
    }

    #[test]
    fn schema_no_lookaround_left_after_translation() {
        fn patterns<'v>(value: &'v Value, found: &mut Vec<&'v str>) {
            match value {
                Value::Object(object) => {
                    for (key, sub) in object {
                        match (key.as_str(), sub) {
                            ("pattern", Value::String(pattern)) => found.push(pattern),
                            ("description" | "title", _) => {}
                            _ => patterns(sub, found),
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|item| patterns(item, found)),
                _ => {}
            }
        }
        let loaded = Loaded::parse().unwrap();
        let mut found = Vec::new();
        patterns(&loaded.components, &mut found);
        assert!(found.len() > 20, "{found:?}");
        for pattern in found {
            for construct in ["(?=", "(?!", "(?<=", "(?<!"] {
                assert!(
                    !pattern.contains(construct),
                    "look-around left in {pattern}"
                );
            }
        }
        assert!(!loaded.components.to_string().contains("\"example\""));
        let rewritten: Vec<&String> = loaded
            .schemas()
            .iter()
            .filter(|(_, schema)| schema["allOf"] == json!([{ "not": blank_check() }]))
            .map(|(name, _)| name)
            .collect();
        assert_eq!(rewritten, ["FirstName", "LastName", "MiddleName", "Name"]);
    }

    /// The loader builds with the plain `regex` engine, so a look-around the rewrite does not
    /// know fails to compile instead of silently falling back to backtracking.
    #[test]
    fn schema_unknown_lookaround_fails_to_compile() {
        let result = jsonschema::options()
            .with_draft(Draft::Draft4)
            .with_pattern_options(PatternOptions::regex())
            .build(&json!({ "type": "string", "pattern": "^(?=a)[a-z]+$" }));
        assert!(result.is_err());
        assert_eq!(rewrite_pattern("^(?=a)[a-z]+$"), None);
    }

    #[test]
    fn schema_openapi_translation() {
        let mut schema = json!({
            "type": "object",
            "example": { "a": 1 },
            "properties": {
                "example": { "type": "string", "nullable": true, "example": "x" },
                "state": { "type": "string", "enum": ["A", "B"], "nullable": true },
                "plain": { "type": "string", "nullable": false },
                "noType": { "allOf": [{ "type": "string" }], "nullable": true },
                "list": { "type": "array", "items": { "type": "integer", "nullable": true } }
            }
        });
        openapi_to_json_schema(&mut schema);
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "properties": {
                    "example": { "type": ["string", "null"] },
                    "state": { "type": ["string", "null"], "enum": ["A", "B", null] },
                    "plain": { "type": "string" },
                    "noType": { "allOf": [{ "type": "string" }] },
                    "list": { "type": "array", "items": { "type": ["integer", "null"] } }
                }
            })
        );
        let validator = jsonschema::draft4::new(&schema).unwrap();
        assert!(validator.is_valid(&json!({ "example": null, "state": null, "list": [1, null] })));
        assert!(!validator.is_valid(&json!({ "state": "C" })));
        assert!(!validator.is_valid(&json!({ "plain": null })));
        assert!(!validator.is_valid(&json!({ "noType": null })));
    }

    #[test]
    fn schema_message_is_bounded() {
        let long = "p".repeat(150);
        let message = compose_message(&format!("a.{long}"), "required element is missing");
        assert!(message.chars().count() <= MAX_MESSAGE_CHARS);
        assert!(
            message.ends_with("pp: required element is missing"),
            "{message}"
        );
        assert_eq!(compose_message("x", "y"), "x: y");
        let violation = SchemaViolation {
            kind: ViolationKind::TooMany,
            pointer: "/x".to_owned(),
            message: "x: too many".to_owned(),
        };
        assert_eq!(
            violation.to_fspiop_error().code,
            ErrorCode::TOO_MANY_ELEMENTS
        );
    }
}
