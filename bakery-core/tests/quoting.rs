//! Values reach a step's shell or PowerShell as data, whatever they hold: any string,
//! quoted or encoded by bakery, parses back as one literal that is the string itself.
//! For sh, the shell's own parser says so; for PowerShell (not on this machine), the
//! rule of its single-quoted strings (about_Quoting_Rules: a quote character doubled
//! is one literal quote, and U+2018 to U+201B are single quotes too) read the text
//! back, and the encoded form holds nothing but base64.

use std::process::Command;

use bakery_core::script::step::{
    powershell_quote, powershell_value, shell_quote, POWERSHELL_SINGLE_QUOTES,
};
use base64::Engine;
use proptest::prelude::*;

/// Any text, with the characters that end quoted strings far more often than chance.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "\\PC{0,6}",
        1 => Just("'".to_string()),
        1 => Just("\u{2018}".to_string()),
        1 => Just("\u{2019}".to_string()),
        1 => Just("\u{201A}".to_string()),
        1 => Just("\u{201B}".to_string()),
        1 => Just("\"$(touch /tmp/x)`;\n\\".to_string()),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

/// Reads one PowerShell single-quoted string from the start of `text`: its value and
/// what follows it, or None when it never ends.
fn read_single_quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.char_indices().peekable();
    let (_, first) = chars.next()?;
    if !POWERSHELL_SINGLE_QUOTES.contains(&first) {
        return None;
    }
    let mut value = String::new();
    while let Some((at, c)) = chars.next() {
        if !POWERSHELL_SINGLE_QUOTES.contains(&c) {
            value.push(c);
            continue;
        }
        match chars.peek() {
            Some((_, next)) if POWERSHELL_SINGLE_QUOTES.contains(next) => {
                value.push(c);
                chars.next();
            }
            _ => return Some((value, &text[at + c.len_utf8()..])),
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_powershell_quoted_value_is_one_literal_that_is_the_value(value in hostile_text()) {
        let quoted = powershell_quote(&value);
        let (read, rest) = read_single_quoted(&quoted).expect("the string ends");
        prop_assert_eq!(read, value);
        prop_assert_eq!(rest, "", "nothing follows the literal");
    }

    #[test]
    fn a_powershell_value_is_base64_between_plain_quotes(value in hostile_text()) {
        let expression = powershell_value(&value);
        let encoded = expression
            .strip_prefix("[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('")
            .and_then(|rest| rest.strip_suffix("'))"))
            .expect("the decoding expression");
        prop_assert!(encoded.chars().all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)));
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        prop_assert_eq!(String::from_utf8(decoded).unwrap(), value);
    }
}

proptest! {
    // Each case runs the shell: fewer of them.
    #![proptest_config(ProptestConfig::with_cases(120))]

    #[test]
    fn a_shell_quoted_value_is_one_word_that_is_the_value(value in hostile_text()) {
        prop_assume!(!value.contains('\0'));
        let script = format!("printf '%s' {}", shell_quote(&value));
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        prop_assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        prop_assert_eq!(String::from_utf8(out.stdout).unwrap(), value);
    }
}
