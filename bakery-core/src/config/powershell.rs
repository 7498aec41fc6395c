//! PowerShell read with a real grammar (tree-sitter-powershell), so that a syntax error
//! in a Windows step, test or agent is found on any machine — no `pwsh` needed — at its
//! line and column.
//!
//! The grammar misreads a few constructs that PowerShell accepts; those are listed in
//! [`KNOWN_MISREADINGS`] (each with the construct and where PowerShell's own grammar
//! allows it) and an error inside one of them is not reported. Nothing else is excused.

use tree_sitter::{Node, Parser};

/// A place the grammar could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based, as editors count.
    pub line: usize,
    pub column: usize,
    /// The text the grammar stopped at (its first line, shortened).
    pub near: String,
}

/// A construct PowerShell accepts that tree-sitter-powershell 0.25 does not read: what
/// it is, the text that marks it on its line, and where PowerShell's grammar has it.
pub struct Misreading {
    pub construct: &'static str,
    pub marker: &'static str,
    pub reference: &'static str,
}

/// Every construct excused, and why each is valid PowerShell.
pub const KNOWN_MISREADINGS: &[Misreading] = &[
    Misreading {
        construct: "a class deriving from a namespace-qualified type: `class X : System.Exception`",
        marker: "class ",
        reference: "about_Classes_Inheritance: `class <derived> : <base>`, the base any \
                    .NET type, such as System.Exception",
    },
    Misreading {
        construct:
            "a class constructor that calls its base class's: `Name([string] $m) : base($m) { }`",
        marker: ": base(",
        reference: "about_Classes_Constructors: a derived class's constructor calls the \
                    base constructor with `: base(<parameters>)`",
    },
    Misreading {
        construct: "bare words separated by commas as one argument: `Install-Module A, B`",
        marker: ", ",
        reference: "about_Parsing, \"Argument mode\": in argument mode a comma separates \
                    the elements of an array argument, bare words included",
    },
];

/// The syntax errors in `script`, first to last; none when it reads cleanly (or
/// where the grammar misreads a construct PowerShell accepts).
pub fn syntax_errors(script: &str) -> Vec<SyntaxError> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_powershell::LANGUAGE.into())
        .expect("the PowerShell grammar matches tree-sitter's ABI");
    let Some(tree) = parser.parse(script, None) else {
        return vec![SyntaxError {
            line: 1,
            column: 1,
            near: "(the parser gave up)".into(),
        }];
    };
    let mut found = Vec::new();
    collect(tree.root_node(), script, &mut found);
    let lines: Vec<&str> = script.lines().collect();
    found.retain(|error| !misread(lines.get(error.line - 1).copied().unwrap_or_default()));
    found.dedup_by_key(|error| error.line);
    found
}

/// Whether a line holds a construct the grammar is known to misread.
fn misread(line: &str) -> bool {
    KNOWN_MISREADINGS.iter().any(|m| match m.marker {
        // Bare words and commas: only where the line is a command's arguments.
        ", " => {
            let trimmed = line.trim_start();
            !trimmed.starts_with('$') && !trimmed.starts_with('@') && line.contains(m.marker)
        }
        // A class declaration with a base type.
        "class " => line.trim_start().starts_with(m.marker) && line.contains(" : "),
        marker => line.contains(marker),
    })
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
    fn the_grammars_known_misreadings_are_excused_and_nothing_else() {
        let derived = "class StepFailed : System.Exception {\n\
                       \x20   StepFailed([string] $message) : base($message) { }\n}\n";
        assert_eq!(syntax_errors(derived), []);
        let modules = "Install-Module AWS.Tools.Common, AWS.Tools.EC2 -Force\n";
        assert_eq!(syntax_errors(modules), []);
        let broken = "class StepFailed : System.Exception {\n\
                      \x20   StepFailed([string] $message) : base($message) { }\n\
                      }\nfunction Broken { if ($x { }\n";
        assert_eq!(syntax_errors(broken)[0].line, 4);
    }
}
