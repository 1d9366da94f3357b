//! A client written from the specification's example works unchanged: the example's field set,
//! JSON types and value cases, checked against live answers (see `binary.rs`).

use serde_json::Value;

/// The specification's example answer of `GET /api/system/health`, verbatim.
pub const SPECIFICATION_EXAMPLE: &str = r#"{
  "priority_status": "AUTH_REQUIRED",
  "priority_message": "Login required to view live data",
  "market": {
    "phase": "LIVE",
    "title": "Market Live",
    "description": "Active trading (9:15 AM - 3:30 PM)",
    "icon": "🟢",
    "is_trading_hours": true,
    "seconds_to_next_phase": 18900
  },
  "auth": {
    "state": "expired",
    "is_valid": false,
    "requires_login": true,
    "token_age_hours": 25.3
  },
  "feed": {
    "state": "disconnected",
    "is_healthy": false,
    "last_tick_seconds_ago": 120,
    "connection_quality": 85.0
  }
}"#;

fn example() -> Value {
    serde_json::from_str(SPECIFICATION_EXAMPLE).expect("the example is JSON")
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of `example` is in `answer` with the same JSON type; a field named in `unknown`
/// may be `null` (a value not known yet, e.g. the token's age before any login).
fn same_fields(example: &Value, answer: &Value, path: &str, unknown: &[&str]) {
    let Value::Object(fields) = example else {
        return;
    };
    for (name, wanted) in fields {
        let path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let got = answer
            .get(name)
            .unwrap_or_else(|| panic!("{path} is missing: {answer}"));
        if got.is_null() && unknown.contains(&path.as_str()) {
            continue;
        }
        assert_eq!(kind(got), kind(wanted), "{path}: {got}");
        same_fields(wanted, got, &path, unknown);
    }
}

/// Fails unless `answer` is what a client written from the example can read: the same fields
/// and types, and values in the example's cases.
pub fn assert_conforms(answer: &Value, unknown: &[&str]) {
    same_fields(&example(), answer, "", unknown);
    let text = |pointer: &str| {
        answer
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let priority = text("/priority_status");
    assert!(
        ["AUTH_REQUIRED", "FEED_DISCONNECTED", "MARKET_SESSION"].contains(&priority),
        "priority_status {priority:?}"
    );
    if priority == "AUTH_REQUIRED" {
        assert_eq!(
            text("/priority_message"),
            "Login required to view live data"
        );
    }
    let phase = text("/market/phase");
    let (title, icon) = match phase {
        "PRE_OPEN" => ("Pre-Open Session", "🔵"),
        "AUCTION_FREEZE" => ("Auction Freeze", "🔵"),
        "LIVE" => ("Market Live", "🟢"),
        "CLOSED" => ("Market Closed", "🔴"),
        other => panic!("market.phase {other:?}"),
    };
    assert_eq!(text("/market/title"), title);
    assert_eq!(text("/market/icon"), icon);
    let auth = text("/auth/state");
    assert!(
        ["valid", "expired", "required", "refreshing"].contains(&auth),
        "auth.state {auth:?}"
    );
    let feed = text("/feed/state");
    assert!(
        ["connected", "connecting", "stale", "disconnected", "error"].contains(&feed),
        "feed.state {feed:?}: lower case, like auth.state"
    );
    let quality = answer["feed"]["connection_quality"]
        .as_f64()
        .expect("a number");
    assert!((0.0..=100.0).contains(&quality), "quality {quality}");
    assert_eq!(
        (quality * 10.0).round() / 10.0,
        quality,
        "a percentage with one decimal: {quality}"
    );
}

#[test]
fn the_example_itself_conforms() {
    assert_conforms(&example(), &[]);
}

#[test]
fn the_answers_of_the_first_version_did_not() {
    let changed = |pointer: &str, value: Value| {
        let mut answer = example();
        *answer.pointer_mut(pointer).unwrap() = value;
        std::panic::catch_unwind(|| assert_conforms(&answer, &[])).is_err()
    };
    assert!(changed("/feed/state", "DISCONNECTED".into()));
    assert!(changed("/feed/connection_quality", 0.8504.into()));
    assert!(changed("/market/icon", "📈".into()));
    assert!(changed("/market/title", "Market live".into()));
    assert!(changed("/priority_message", "Kite session expired".into()));
    assert!(changed("/auth/token_age_hours", Value::Null));
}
