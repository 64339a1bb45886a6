//! What a search becomes in tantivy: the words of each field, prefixes completed from the
//! index, the items of a query (words, phrases, exclusions) and the whole query.

use super::*;

/// The words of `text` as the index has them (split, lowercased).
pub(super) fn tokens(
    searcher: &Searcher,
    field: Field,
    text: &str,
) -> tantivy::Result<Vec<String>> {
    let mut analyzer = searcher.index().tokenizer_for_field(field)?;
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    Ok(out)
}

/// A word in the title (boosted) or in the path and text.
pub(super) fn word(f: Fields, w: &str) -> Box<dyn Query> {
    let term = |field| {
        TermQuery::new(
            Term::from_field_text(field, w),
            IndexRecordOption::WithFreqs,
        )
    };
    Box::new(BooleanQuery::new(vec![
        (
            Occur::Should,
            Box::new(BoostQuery::new(Box::new(term(f.title)), TITLE_BOOST)),
        ),
        (Occur::Should, Box::new(term(f.body))),
    ]))
}

pub(super) fn any_of(mut queries: Vec<Box<dyn Query>>) -> Option<Box<dyn Query>> {
    match queries.len() {
        0 => None,
        1 => queries.pop(),
        _ => Some(Box::new(BooleanQuery::new(
            queries.into_iter().map(|q| (Occur::Should, q)).collect(),
        ))),
    }
}

pub(super) fn item_query(
    searcher: &Searcher,
    f: Fields,
    item: &Item,
) -> tantivy::Result<Option<Box<dyn Query>>> {
    let words = tokens(searcher, f.body, &item.text)?;
    let phrase = |field: Field| -> Box<dyn Query> {
        Box::new(PhraseQuery::new(
            words
                .iter()
                .map(|w| Term::from_field_text(field, w))
                .collect(),
        ))
    };
    Ok(match words.len() {
        0 => None,
        1 => Some(word(f, &words[0])),
        _ => any_of(vec![
            Box::new(BoostQuery::new(phrase(f.title), TITLE_BOOST)),
            phrase(f.body),
        ]),
    })
}

/// A completion's document count and where its postings are: (segment ordinal, term).
type Candidate = (u64, Vec<(usize, TermInfo)>);

/// The most frequent words of `projects` starting with `prefix`, most frequent first.
pub(super) fn completions(
    searcher: &Searcher,
    f: Fields,
    projects: &[ProjectId],
    prefix: &str,
) -> tantivy::Result<Vec<String>> {
    // Each word's document count and where its postings are (segment, term), to check below
    // that a live document still holds it.
    let mut freq: HashMap<Vec<u8>, Candidate> = HashMap::new();
    for project in projects {
        let scope = format!("{}{WORD_SEP}", project.0);
        let lower = format!("{scope}{prefix}").into_bytes();
        let mut upper = lower.clone();
        upper.push(0xFF); // no UTF-8 byte: every word starting with `prefix` sorts below
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let inverted = segment.inverted_index(f.words)?;
            let mut stream = inverted
                .terms()
                .range()
                .ge(&lower)
                .lt(&upper)
                .into_stream()?;
            while stream.advance() {
                let word = stream.key().get(scope.len()..).unwrap_or_default();
                let entry = freq.entry(word.to_vec()).or_default();
                entry.0 += u64::from(stream.value().doc_freq);
                entry.1.push((ord, stream.value().clone()));
            }
        }
    }
    let mut words: Vec<(Vec<u8>, Candidate)> = freq.into_iter().collect();
    words.sort_unstable_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
    // A word of deleted documents only (an old version of a saved document, a purged one)
    // stays in its segment until a merge: skip it, or dead words fill every slot.
    let mut live = Vec::with_capacity(PREFIX_TERMS);
    for (word, (_, at)) in words {
        if live.len() == PREFIX_TERMS {
            break;
        }
        if held_by_a_live_document(searcher, f, &at)?
            && let Ok(word) = String::from_utf8(word)
        {
            live.push(word);
        }
    }
    Ok(live)
}

/// Whether a document not deleted holds the term at any of `at` (segment, term).
pub(super) fn held_by_a_live_document(
    searcher: &Searcher,
    f: Fields,
    at: &[(usize, TermInfo)],
) -> tantivy::Result<bool> {
    for (ord, info) in at {
        let Some(segment) = searcher.segment_readers().get(*ord) else {
            continue;
        };
        if !segment.has_deletes() {
            return Ok(true);
        }
        let mut postings = segment
            .inverted_index(f.words)?
            .read_postings_from_terminfo(info, IndexRecordOption::Basic)?;
        let mut doc = postings.doc();
        while doc != TERMINATED {
            if !segment.is_deleted(doc) {
                return Ok(true);
            }
            doc = postings.advance();
        }
    }
    Ok(false)
}

/// The whole query: what the user typed, within `projects`, without `trashed` documents.
/// `None` when nothing can match.
pub(super) fn build_query(
    searcher: &Searcher,
    f: Fields,
    request: &OwnedRequest,
    trashed: &[uuid::Uuid],
) -> tantivy::Result<Option<Box<dyn Query>>> {
    let parsed = query::parse(&request.head);
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for group in &parsed.required {
        let mut any = Vec::new();
        for item in group {
            any.extend(item_query(searcher, f, item)?);
        }
        clauses.extend(any_of(any).map(|q| (Occur::Must, q)));
    }
    if let Some(prefix) = &request.prefix {
        let words = completions(searcher, f, &request.projects, prefix)?;
        let Some(q) = any_of(words.iter().map(|w| word(f, w)).collect()) else {
            return Ok(None);
        };
        clauses.push((Occur::Must, q));
    }
    let mut excluded = Vec::new();
    for item in &parsed.excluded {
        excluded.extend(item_query(searcher, f, item)?);
    }
    if clauses.is_empty() {
        if excluded.is_empty() {
            return Ok(None);
        }
        clauses.push((Occur::Must, Box::new(AllQuery)));
    }
    clauses.extend(excluded.into_iter().map(|q| (Occur::MustNot, q)));
    let projects = request
        .projects
        .iter()
        .map(|p| Term::from_field_text(f.project_id, &p.0.to_string()));
    clauses.push((
        Occur::Must,
        Box::new(ConstScoreQuery::new(
            Box::new(TermSetQuery::new(projects)),
            0.0,
        )),
    ));
    if !trashed.is_empty() {
        let ids = trashed
            .iter()
            .map(|id| Term::from_field_text(f.file_id, &id.to_string()));
        clauses.push((Occur::MustNot, Box::new(TermSetQuery::new(ids))));
    }
    Ok(Some(Box::new(BooleanQuery::new(clauses))))
}
