//! BRIEF §5 "Console coherence", the words people read: every page and export the demo's
//! console links to (crawled as a viewer who sees everything) writes numbers rounded for people,
//! comparisons as symbols or words (never `Lt`), no Markdown backticks, counts that agree with
//! their nouns ("1 rule", never "2 of 1 approvals"), and times in the tense they need ("approved
//! 3h ago", "expires in 2d", never "at 3h ago" or "until in 2d").

use regex::Regex;

use crate::common::demo::{crawl, get, start};

/// The text a reader sees: tags dropped, the common entities read back.
fn text(html: &str) -> String {
    let tags = Regex::new(r"<[^>]*>").unwrap();
    tags.replace_all(html, " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[test]
fn every_page_speaks_plainly() {
    let demo = start(&[]);
    let pages = crawl(
        |path| {
            let (status, _, body) = get(demo.port, path);
            (status, body)
        },
        600,
    );
    assert!(pages.len() > 60, "the crawl reached {} paths", pages.len());
    let rules: [(&str, Regex); 5] = [
        ("an unrounded number", Regex::new(r"\d\.\d{7,}").unwrap()),
        (
            "an operator's Rust name",
            Regex::new(r"\b(Lt|Le|Gt|Ge|Eq|Ne) -?\d").unwrap(),
        ),
        ("a Markdown backtick", Regex::new("`").unwrap()),
        (
            "a time with two tenses",
            Regex::new(r"\b(at \d+[smhd][^.]{0,12} ago|until in \d)").unwrap(),
        ),
        (
            "a raw float from a message",
            Regex::new(r"value \d+\.\d+ (breaks|holds)").unwrap(),
        ),
    ];
    let more_than_needed = Regex::new(r"\b(\d+) of (\d+) approvals").unwrap();
    // "1 rules", "1 connector issues"; "0 of 1 approvals" is a fraction, read as one.
    let plural_for_one = Regex::new(
        r"(\S+)\s+1 ([a-z]+ )?(rules|approvals|releases|connectors|issues|gates|targets)\b",
    )
    .unwrap();
    for (path, status, body) in &pages {
        // The refresh links answer with a redirect to the page they were on.
        assert!(
            *status == 200 || path.starts_with("/console/refresh"),
            "{path}: {status}"
        );
        // Exports are files: their JSON keeps the values as recorded; their prose is checked.
        let seen = if path.ends_with(".json") || path.starts_with("/api/v1/passports") {
            continue;
        } else if path.starts_with("/api/") {
            body.clone()
        } else {
            text(body)
        };
        for (what, rule) in &rules {
            if let Some(m) = rule.find(&seen) {
                let before: String = seen[..m.start()].chars().rev().take(80).collect();
                let before: String = before.chars().rev().collect();
                let after: String = seen[m.start()..].chars().take(60).collect();
                panic!("{path} shows {what}: …{before}{after}…");
            }
        }
        if let Some(c) = plural_for_one.captures_iter(&seen).find(|c| &c[1] != "of") {
            panic!("{path} shows a plural for one: {}", &c[0]);
        }
        for c in more_than_needed.captures_iter(&seen) {
            let (count, of): (u32, u32) = (c[1].parse().unwrap(), c[2].parse().unwrap());
            assert!(count <= of, "{path} counts {count} of {of} approvals");
        }
    }
}
