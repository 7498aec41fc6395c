//! PowerShell read with a real grammar (tree-sitter-powershell), so that a syntax error
//! in a Windows step, test or agent is found on any machine — no `pwsh` needed — at its
//! line and column.
//!
//! The grammar misreads a few constructs that PowerShell accepts; those are listed in
//! [`KNOWN_MISREADINGS`] (each with the construct and where PowerShell's own grammar
//! allows it). Before parsing, each is rewritten into an equivalent the grammar reads,
//! of the same length, so that every other error keeps its line and column — an error
//! on the same line as one of them is still found.

use tree_sitter::{Node, Parser};

/// A place the grammar could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based, as editors count.
    pub line: usize,
    /// 1-based too, in bytes from the start of the line.
    pub column: usize,
    /// The text the grammar stopped at (its first line, shortened).
    pub near: String,
}

/// A construct PowerShell accepts that tree-sitter-powershell 0.25 does not read: what
/// it is, what it is read as instead, and where PowerShell's grammar has it.
pub struct Misreading {
    /// What PowerShell accepts and the grammar misreads, with an example.
    pub construct: &'static str,
    /// The text of the same length it is rewritten into before parsing.
    pub rewritten_as: &'static str,
    /// Where PowerShell's own documentation allows it (its `about_` topic).
    pub reference: &'static str,
}

/// Every construct excused, and why each is valid PowerShell.
pub const KNOWN_MISREADINGS: &[Misreading] = &[
    Misreading {
        construct: "a class deriving from a namespace-qualified type: `class X : System.Exception`",
        rewritten_as: "the base type's dots as underscores: `class X : System_Exception`",
        reference: "about_Classes_Inheritance: `class <derived> : <base>`, the base any \
                    .NET type, such as System.Exception",
    },
    Misreading {
        construct:
            "a class constructor that calls its base class's: `Name([string] $m) : base($m) { }`",
        rewritten_as: "blanks in place of `: base(…)`",
        reference: "about_Classes_Constructors: a derived class's constructor calls the \
                    base constructor with `: base(<parameters>)`",
    },
    Misreading {
        construct: "bare words separated by commas as one argument: `Install-Module A, B`",
        rewritten_as: "each word quoted, in its own length: `Install-Module 'A', 'B'`",
        reference: "about_Parsing, \"Argument mode\": in argument mode a comma separates \
                    the elements of an array argument, bare words included",
    },
];

/// The syntax errors in `script`, first to last; none when it reads cleanly.
pub fn syntax_errors(script: &str) -> Vec<SyntaxError> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_powershell::LANGUAGE.into())
        .expect("the PowerShell grammar matches tree-sitter's ABI");
    let readable = rewritten(script);
    let Some(tree) = parser.parse(&readable, None) else {
        return vec![SyntaxError {
            line: 1,
            column: 1,
            near: "(the parser gave up)".into(),
        }];
    };
    let mut found = Vec::new();
    collect(tree.root_node(), script, &mut found);
    found.dedup_by_key(|error| error.line);
    found
}

/// `script` with each of [`KNOWN_MISREADINGS`] rewritten, every line its own length.
fn rewritten(script: &str) -> String {
    script
        .split_inclusive('\n')
        .map(|line| bare_word_lists(&base_call(&dotted_base(line))))
        .collect()
}

/// `class X : System.Exception {` -> `class X : System_Exception {`.
fn dotted_base(line: &str) -> String {
    let trimmed = line.trim_start();
    let Some(colon) = line.find(" : ").filter(|_| trimmed.starts_with("class ")) else {
        return line.to_string();
    };
    let end = line[colon..].find('{').map_or(line.len(), |at| colon + at);
    let base = line[colon..end].replace('.', "_");
    format!("{}{base}{}", &line[..colon], &line[end..])
}

/// `X([string] $m) : base($m) {` -> `X([string] $m)              {`.
fn base_call(line: &str) -> String {
    let Some(start) = line.find(": base(") else {
        return line.to_string();
    };
    let mut depth = 0;
    for (at, c) in line[start..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 1 => {
                let end = start + at + 1;
                // Bytes, not characters: tree-sitter's columns count bytes.
                let blanks = " ".repeat(end - start);
                return format!("{}{blanks}{}", &line[..start], &line[end..]);
            }
            ')' => depth -= 1,
            _ => {}
        }
    }
    line.to_string()
}

/// In a command's arguments, `A.B, Cd, E` -> `'.'', '', 1` (each word a string of its
/// own length; a one-letter word a number). Only on a line without quotes, where a comma
/// cannot be inside a string.
fn bare_word_lists(line: &str) -> String {
    if line.contains(['\'', '"']) {
        return line.to_string();
    }
    static COMMAND: std::sync::OnceLock<regex_lite::Regex> = std::sync::OnceLock::new();
    static LIST: std::sync::OnceLock<regex_lite::Regex> = std::sync::OnceLock::new();
    let command = COMMAND.get_or_init(|| {
        regex_lite::Regex::new(r"^\s*[A-Za-z]+-[A-Za-z0-9]+\s").expect("a valid pattern")
    });
    if !command.is_match(line) {
        return line.to_string();
    }
    let list = LIST.get_or_init(|| {
        regex_lite::Regex::new(r"(^|[\s,])([A-Za-z_][A-Za-z0-9_.]*)(\s*,)")
            .expect("a valid pattern")
    });
    let quote = |word: &str| match word.len() {
        0 => String::new(),
        1 => "1".to_string(),
        n => format!("'{}'", &word[1..n - 1]),
    };
    // A word that ends a list follows a comma: quoted too.
    static AFTER_COMMA: std::sync::OnceLock<regex_lite::Regex> = std::sync::OnceLock::new();
    let after_comma = AFTER_COMMA.get_or_init(|| {
        regex_lite::Regex::new(r",(\s*)([A-Za-z_][A-Za-z0-9_.]*)").expect("a valid pattern")
    });
    let first = list.replace_all(line, |c: &regex_lite::Captures<'_>| {
        format!("{}{}{}", &c[1], quote(&c[2]), &c[3])
    });
    after_comma
        .replace_all(&first, |c: &regex_lite::Captures<'_>| {
            format!(",{}{}", &c[1], quote(&c[2]))
        })
        .into_owned()
}

fn collect(node: Node<'_>, script: &str, found: &mut Vec<SyntaxError>) {
    if node.is_error() || node.is_missing() {
        let start = node.start_position();
        let text = &script[node.start_byte()..node.end_byte().max(node.start_byte())];
        let near: String = text
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(40)
            .collect();
        found.push(SyntaxError {
            line: start.row + 1,
            column: start.column + 1,
            near: match node.is_missing() {
                true => format!("missing {}", node.kind()),
                false => near,
            },
        });
        return;
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        if child.has_error() || child.is_missing() {
            collect(child, script, found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_powershell_reads_cleanly() {
        let script = "param([string] $Name = 'world')\n\
                      $ErrorActionPreference = 'Stop'\n\
                      function Greet {\n    param($Who)\n    Write-Output \"hello $Who\"\n}\n\
                      if (Test-Path C:\\ProgramData) { Greet -Who $Name } else { exit 3 }\n\
                      try { Get-Item x } catch { Write-Error $_ } finally { }\n";
        assert_eq!(syntax_errors(script), []);
    }

    #[test]
    fn a_syntax_error_is_found_at_its_line() {
        let script = "$ok = 1\nif ($ok -eq 1 {\n  Write-Output 'unclosed'\n";
        let errors = syntax_errors(script);
        assert!(!errors.is_empty());
        assert_eq!(errors[0].line, 2, "{errors:?}");
    }

    #[test]
    fn the_grammars_known_misreadings_are_read_and_errors_beside_them_are_not_missed() {
        let derived = "class StepFailed : System.Exception {\n\
                       \x20   StepFailed([string] $message) : base($message) { }\n}\n";
        assert_eq!(syntax_errors(derived), []);
        let modules = "Install-Module AWS.Tools.Common, AWS.Tools.EC2 -Force\n\
                       Get-Module A, B | Format-Table Name, Version -AutoSize\n";
        assert_eq!(syntax_errors(modules), []);
        // An error on the line of a construct the grammar misreads is still an error.
        let comma_error = "if ($env:X -notin 'a', 'b' {\n    'y'\n}\n";
        assert_eq!(syntax_errors(comma_error)[0].line, 1);
        let bare_error = "Install-Module A.B, C.D -Force (\n";
        assert!(!syntax_errors(bare_error).is_empty());
        let broken = "class StepFailed : System.Exception {\n\
                      \x20   StepFailed([string] $message) : base($message) { }\n\
                      }\nfunction Broken { if ($x { }\n";
        assert_eq!(syntax_errors(broken)[0].line, 4);
        // A comma inside a string is never taken for a list.
        assert_eq!(syntax_errors("Write-Output 'hello, world', 'x'\n"), []);
    }
}
