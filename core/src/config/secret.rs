//! A config value that must never be shown (a header holding a key, a password, a token):
//! it is never printed by `Debug`, and a wrong type is reported without the value, since
//! YAML reads an unquoted `8734625348762534` as a number and the usual error would echo it.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A secret string from the config. Any scalar is taken as its text (a number written
/// unquoted is the digits); anything else is an error that does not show it.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

impl Secret {
    /// A secret with this text.
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The text, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<not shown>)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Secret, E> {
                Err(E::custom("must be a string, not empty"))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
                Err(de::Error::custom(
                    "must be a string (the value is not shown)",
                ))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
                Err(de::Error::custom(
                    "must be a string (the value is not shown)",
                ))
            }
        }
        d.deserialize_any(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_scalar_is_its_text_and_nothing_is_shown() {
        let s: Secret = serde_yaml::from_str("8734625348762534").unwrap();
        assert_eq!(s.expose(), "8734625348762534");
        assert_eq!(format!("{s:?}"), "Secret(<not shown>)");
        let s: Secret = serde_yaml::from_str("'Bearer abc'").unwrap();
        assert_eq!(s.expose(), "Bearer abc");
        let err = serde_yaml::from_str::<Secret>("[topsecret]")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("topsecret"), "{err}");
        let err = serde_yaml::from_str::<Secret>("{k: topsecret}")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("topsecret"), "{err}");
    }
}
