//! `id_token` claims: decoding, the checks they must pass, and Microsoft's
//! optional email claims.

use base64::Engine;
use serde_json::{Map, Value};

use super::providers::Kind;
use super::quirks::UserSource;
use super::user::{invalid, AuthUser, UserError};
use crate::model::Timestamp;

/// Clock skew tolerated on `id_token` time claims (PocketBase's default).
const ID_TOKEN_LEEWAY_SECS: i64 = 300;

/// The claims of a JWT, read without checking its signature.
pub fn jwt_claims(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Checks an `id_token`'s claims: `aud` must name the client, `exp` (when
/// `require_exp`, or present) must lie ahead and `iat` not in the future,
/// `iss` must be one of `issuers` when any are given.
///
/// The signature is **not** checked: the token came straight from the
/// provider's token endpoint, in the answer to the code exchange the client
/// authenticated, over TLS (config validation requires `https` for the
/// token URL except on loopback), which OpenID Connect Core §3.1.3.7 item 6
/// accepts in place of a signature check. Clients never supply an
/// `id_token`. Per provider: Apple and `oidc*` read their user from it;
/// Microsoft only its verified email claims (a signature would not help
/// there: a hostile tenant's tokens are validly signed, which is why the
/// unverified `email` claim is refused); the others never read one.
/// Verifying against the provider's JWKS would need a key fetch (and cache)
/// per cold start and login for no gain under these conditions.
pub fn check_id_token(
    claims: &Map<String, Value>,
    client_id: &str,
    issuers: &[String],
    require_exp: bool,
    now: Timestamp,
) -> Result<(), UserError> {
    let now = now.seconds();
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid("id_token audience mismatch"));
    }
    // The times are the provider's numbers: any size, so saturating.
    match claims.get("exp").map(claim_secs) {
        Some(None) => return Err(invalid("id_token exp is not a number")),
        Some(Some(exp)) if exp.saturating_add(ID_TOKEN_LEEWAY_SECS) <= now => {
            return Err(invalid("id_token expired"));
        }
        None if require_exp => return Err(invalid("id_token without exp")),
        _ => {}
    }
    match claims.get("iat").map(claim_secs) {
        Some(None) => return Err(invalid("id_token iat is not a number")),
        Some(Some(iat)) if iat.saturating_sub(ID_TOKEN_LEEWAY_SECS) > now => {
            return Err(invalid("id_token issued in the future"));
        }
        _ => {}
    }
    if !issuers.is_empty() {
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !issuers.iter().any(|i| i == iss) {
            return Err(invalid("id_token issuer not allowed"));
        }
    }
    Ok(())
}

/// A JWT NumericDate claim in whole seconds; `None` when it is not a number.
fn claim_secs(v: &Value) -> Option<i64> {
    v.as_f64().and_then(secs_from_f64)
}

/// Seconds as `i64`, clamped: infinities and values out of range become
/// `i64::MIN`/`i64::MAX` (what `as` does), NaN is refused.
fn secs_from_f64(f: f64) -> Option<i64> {
    (!f.is_nan()).then_some(f as i64)
}

/// An option given as one string or a list of them (`extra.issuers`).
pub(super) fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The values of Microsoft's `extra.idTokenEmailClaim` that Authgate
/// honours (PocketBase's option names): each reads only claims Microsoft
/// vouches for. PocketBase's fourth value, `"email"`, is refused by config
/// validation: Entra ID's plain `email` claim is whatever the user's tenant
/// admin typed, never verified, so trusting it lets anyone with a tenant
/// sign in as any address ("nOAuth").
const MICROSOFT_EMAIL_CLAIMS: [&str; 3] = [
    "verified_primary_email",
    "email_and_xms_edov",
    "any_verified",
];

const EMAIL_CLAIM_OPTION: &str = "idTokenEmailClaim";

/// Checks `extra.idTokenEmailClaim` for a provider of `kind`: only a kind
/// that reads it (Microsoft) may set it, and only to a value that names a
/// verified claim. No kind is known to verify a plain `email` claim, so
/// `"email"` is refused everywhere.
pub(super) fn check_email_claim_option(
    kind: Kind,
    extra: &Map<String, Value>,
) -> Result<(), String> {
    let value = match extra.get(EMAIL_CLAIM_OPTION) {
        None => return Ok(()),
        Some(Value::String(s)) if s.is_empty() => return Ok(()),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("must be a string".into()),
    };
    if kind.quirks().source != UserSource::UserInfoAndIdTokenEmail {
        return Err("not read by this provider (only \"microsoft\" reads it)".into());
    }
    if value == "email" {
        return Err(
            "\"email\" is refused: the plain email claim is not verified by \
                    the provider, so trusting it allows account takeover (nOAuth); use \
                    \"verified_primary_email\", \"email_and_xms_edov\" or \"any_verified\""
                .into(),
        );
    }
    if !MICROSOFT_EMAIL_CLAIMS.contains(&value) {
        return Err(format!(
            "unknown value {value:?} (known: {})",
            MICROSOFT_EMAIL_CLAIMS.join(", ")
        ));
    }
    Ok(())
}

/// Microsoft's `extra.idTokenEmailClaim` (PocketBase's option names).
pub(super) fn microsoft_email_claim(extra: &Map<String, Value>) -> Option<&str> {
    extra
        .get("idTokenEmailClaim")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Applies Microsoft's `idTokenEmailClaim` option: which `id_token` claim
/// holds an email Microsoft verified.
pub(super) fn microsoft_id_token_email(
    user: &mut AuthUser,
    option: &str,
    claims: Option<&Map<String, Value>>,
) {
    let Some(c) = claims else {
        return;
    };
    let get = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
    let primary = get("verified_primary_email");
    let edov = if c.get("xms_edov").is_some_and(|v| match v {
        Value::Bool(b) => *b,
        Value::String(s) => s == "true" || s == "1",
        _ => false,
    }) {
        get("email")
    } else {
        ""
    };
    let email = match option {
        "any_verified" => {
            if primary.is_empty() {
                edov
            } else {
                primary
            }
        }
        "verified_primary_email" => primary,
        "email_and_xms_edov" => edov,
        // Anything else (config validation refuses it, `"email"` included)
        // marks nothing verified.
        _ => "",
    };
    if !email.is_empty() {
        user.email = email.to_owned();
        user.email_verified = true;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::providers::{Kind, APPLE_ISSUER};
    use super::super::user::map_user;
    use super::*;

    fn jwt(claims: Value) -> String {
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            b64(br#"{"alg":"RS256"}"#),
            b64(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn id_token_claims_are_decoded_and_checked() {
        let now = Timestamp(1_800_000_000_000);
        let good = json!({"iss": APPLE_ISSUER, "aud": "cid", "exp": 1_800_000_600, "iat": 1_799_999_990, "sub": "u1"});
        let claims = jwt_claims(&jwt(good.clone())).expect("decodes");
        assert_eq!(Value::Object(claims.clone()), good);
        let apple = [APPLE_ISSUER.to_owned()];
        assert!(check_id_token(&claims, "cid", &apple, true, now).is_ok());
        let cases = [
            (
                json!({"iss": APPLE_ISSUER, "aud": "other", "exp": 1_800_000_600}),
                "audience",
            ),
            (
                json!({"iss": APPLE_ISSUER, "aud": "cid", "exp": 1_799_999_000}),
                "expired",
            ),
            (json!({"iss": APPLE_ISSUER, "aud": "cid"}), "no exp"),
            (
                json!({"iss": "https://evil.example", "aud": ["cid"], "exp": 1_800_000_600}),
                "issuer",
            ),
        ];
        for (claims, why) in cases {
            let claims = jwt_claims(&jwt(claims)).expect("decodes");
            assert!(
                check_id_token(&claims, "cid", &apple, true, now).is_err(),
                "{why} must be rejected"
            );
        }
        assert!(jwt_claims("not-a-jwt").is_none());
        assert!(jwt_claims("a.b").is_none());
    }

    #[test]
    fn huge_or_odd_id_token_times_are_judged_without_overflow() {
        let now = Timestamp(1_800_000_000_000);
        let check = |claims: Value| {
            let claims = jwt_claims(&jwt(claims)).expect("decodes");
            check_id_token(&claims, "cid", &[], true, now).map_err(|e| e.to_string())
        };
        // Far future expiry, far past issue: valid.
        assert_eq!(
            check(json!({"aud": "cid", "exp": 1e300, "iat": -1e300})),
            Ok(())
        );
        assert_eq!(
            check(json!({"aud": "cid", "exp": i64::MAX, "iat": i64::MIN})),
            Ok(())
        );
        assert_eq!(check(json!({"aud": "cid", "exp": u64::MAX})), Ok(()));
        // Far past expiry, far future issue: rejected.
        let cases = [
            (json!({"aud": "cid", "exp": -1e300}), "expired"),
            (json!({"aud": "cid", "exp": i64::MIN}), "expired"),
            (json!({"aud": "cid", "exp": 1e300, "iat": 1e300}), "future"),
            (
                json!({"aud": "cid", "exp": 1e300, "iat": i64::MAX}),
                "future",
            ),
            (json!({"aud": "cid", "exp": "1e300"}), "not a number"),
            (
                json!({"aud": "cid", "exp": 1e300, "iat": "0"}),
                "not a number",
            ),
        ];
        for (claims, why) in cases {
            let got = check(claims.clone());
            assert!(
                got.as_ref().is_err_and(|e| e.contains(why)),
                "{claims}: want {why}, got {got:?}"
            );
        }
        // Within the leeway either side.
        let edge = json!({"aud": "cid", "exp": 1_800_000_000 - 299, "iat": 1_800_000_000 + 300});
        assert_eq!(check(edge), Ok(()));
        let late = json!({"aud": "cid", "exp": 1_800_000_000 - 300});
        assert!(check(late).is_err());
        let early = json!({"aud": "cid", "exp": 1e300, "iat": 1_800_000_000 + 301});
        assert!(check(early).is_err());
        // NaN and infinities cannot come from JSON; the conversion clamps anyway.
        assert_eq!(secs_from_f64(f64::NAN), None);
        assert_eq!(secs_from_f64(f64::INFINITY), Some(i64::MAX));
        assert_eq!(secs_from_f64(f64::NEG_INFINITY), Some(i64::MIN));
        assert_eq!(claim_secs(&json!(-1e300)), Some(i64::MIN));
        assert_eq!(claim_secs(&json!(1e300)), Some(i64::MAX));
        assert_eq!(claim_secs(&json!(1.9)), Some(1));
    }

    #[test]
    fn microsoft_id_token_email_options_mark_the_email_verified() {
        let claims =
            json!({"email":"e@x.test","xms_edov":true,"verified_primary_email":"p@x.test"});
        let claims = claims.as_object().cloned();
        for (option, want) in [
            ("verified_primary_email", "p@x.test"),
            ("email_and_xms_edov", "e@x.test"),
            ("any_verified", "p@x.test"),
        ] {
            let mut u =
                map_user(Kind::Microsoft, &json!({"id":"1","mail":"m@x.test"})).expect("maps");
            microsoft_id_token_email(&mut u, option, claims.as_ref());
            assert_eq!(
                (u.email.as_str(), u.email_verified),
                (want, true),
                "{option}"
            );
        }
        // The plain `email` claim (nOAuth) or an unknown option: nothing verified.
        for option in ["email", "whatever"] {
            let mut u =
                map_user(Kind::Microsoft, &json!({"id":"1","mail":"m@x.test"})).expect("maps");
            microsoft_id_token_email(&mut u, option, claims.as_ref());
            assert_eq!(
                (u.email.as_str(), u.email_verified),
                ("m@x.test", false),
                "{option}"
            );
        }
    }
}
