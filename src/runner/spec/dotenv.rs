//! `dotenv:` files as Dagu reads them (through godotenv): `KEY=VALUE` lines, `export ` before
//! a key, `#` comments (whole lines, or after an unquoted value), values in double quotes
//! (`\n`, `\"`, `\\` inside; `${VAR}` expanded as in `env`) or single quotes (as written, no
//! expansion). A file named but missing is an
//! error naming it, as every other problem of the workflow is, before anything runs.

use std::path::Path;

/// The variables of one file, in file order.
pub(super) fn load(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("dotenv {}: file not found", path.display()))
        }
        Err(e) => return Err(format!("dotenv {}: cannot read: {e}", path.display())),
    };
    parse(&text).map_err(|(line, why)| format!("dotenv {}:{line}: {why}", path.display()))
}

pub(super) fn parse(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else {
            return Err((n + 1, format!("expected KEY=VALUE, found {line:?}")));
        };
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err((n + 1, format!("{key:?} is not a variable name")));
        }
        out.push((
            key.to_owned(),
            value_of(value.trim()).map_err(|e| (n + 1, e))?,
        ));
    }
    Ok(out)
}

fn value_of(value: &str) -> Result<String, String> {
    if let Some(rest) = value.strip_prefix('\'') {
        // As written: its `$` escaped from the expansion `env` values get (`$$` is a `$`).
        return rest
            .find('\'')
            .map(|end| rest[..end].replace('$', "$$"))
            .ok_or_else(|| "a single quote is not closed".to_owned());
    }
    if let Some(rest) = value.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Ok(out),
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(e @ ('"' | '\\')) => out.push(e),
                    Some(other) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        return Err("a double quote is not closed".into());
    }
    // Unquoted: a ` #` starts a comment.
    Ok(match value.find(" #") {
        Some(at) => value[..at].trim_end().to_owned(),
        None => value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_godotenv_reads_them() {
        let text = "# comment\n\nexport A=1\nB = two words # trailing\nC=\"say \\\"hi\\\"\\n\"\nD='$NOT_EXPANDED'\nE=\n";
        assert_eq!(
            parse(text).unwrap(),
            [
                ("A".to_owned(), "1".to_owned()),
                ("B".to_owned(), "two words".to_owned()),
                ("C".to_owned(), "say \"hi\"\n".to_owned()),
                ("D".to_owned(), "$$NOT_EXPANDED".to_owned()),
                ("E".to_owned(), String::new()),
            ]
        );
        assert_eq!(parse("A=1\nnot a pair\n").unwrap_err().0, 2);
        assert!(parse("A=\"open\n").is_err());
    }
}
