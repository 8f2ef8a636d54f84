//! `fintract-admin import FILE`: accounts and loans from JSON or CSV. Every record is validated
//! before anything is written, so a file with one bad line imports nothing; writes are puts by
//! key, so importing the same file twice changes nothing.

use serde::Deserialize;
use shared::model::{Account, Loan};
use shared::Ctx;

/// One account with its loans, as a JSON file lists them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRecord {
    pub account_number: String,
    pub customer_id: String,
    pub customer_name: String,
    #[serde(default)]
    pub balance: i64,
    #[serde(default = "ugx")]
    pub currency: String,
    #[serde(default)]
    pub loans: Vec<Loan>,
}

fn ugx() -> String {
    "UGX".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonFile {
    accounts: Vec<AccountRecord>,
}

/// A CSV row: the account's columns, and a loan's columns (empty for an account without loans).
#[derive(Debug, Deserialize)]
struct CsvRow {
    account_number: String,
    customer_id: String,
    customer_name: String,
    #[serde(default)]
    balance: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    loan_id: Option<String>,
    #[serde(default)]
    disbursement_date: Option<String>,
    #[serde(default)]
    principal: Option<i64>,
    #[serde(default)]
    outstanding_amount: Option<i64>,
}

/// Parses a file by its extension (`.json` or `.csv`).
pub fn parse(name: &str, text: &str) -> Result<Vec<AccountRecord>, Vec<String>> {
    let records = if name.ends_with(".json") {
        serde_json::from_str::<JsonFile>(text)
            .map(|f| f.accounts)
            .map_err(|e| vec![format!("{name}: {e}")])?
    } else if name.ends_with(".csv") {
        parse_csv(text)?
    } else {
        return Err(vec![format!("{name}: use a .json or .csv file")]);
    };
    let problems: Vec<String> = records.iter().flat_map(validate).collect();
    if problems.is_empty() {
        Ok(records)
    } else {
        Err(problems)
    }
}

fn parse_csv(text: &str) -> Result<Vec<AccountRecord>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records: Vec<AccountRecord> = Vec::new();
    let mut problems = Vec::new();
    for (i, row) in reader.deserialize::<CsvRow>().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let index = match records
            .iter()
            .position(|r| r.account_number == row.account_number)
        {
            Some(i) => i,
            None => {
                records.push(AccountRecord {
                    account_number: row.account_number.clone(),
                    customer_id: row.customer_id.clone(),
                    customer_name: row.customer_name.clone(),
                    balance: row.balance.unwrap_or(0),
                    currency: row
                        .currency
                        .clone()
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(ugx),
                    loans: Vec::new(),
                });
                records.len() - 1
            }
        };
        let account = &mut records[index];
        if account.customer_id != row.customer_id {
            problems.push(format!(
                "line {line}: account {} belongs to {} above",
                row.account_number, account.customer_id
            ));
        }
        match (row.loan_id.filter(|l| !l.is_empty()), row.disbursement_date, row.principal, row.outstanding_amount) {
            (None, _, _, _) => {}
            (Some(loan_id), Some(date), Some(principal), Some(outstanding)) => account.loans.push(Loan {
                loan_id,
                disbursement_date: date,
                principal,
                outstanding_amount: outstanding,
            }),
            (Some(loan_id), ..) => problems.push(format!("line {line}: loan {loan_id} needs disbursement_date, principal and outstanding_amount")),
        }
    }
    if problems.is_empty() {
        Ok(records)
    } else {
        Err(problems)
    }
}

/// `2023-02-16T12:24:54Z`: the published format, UTC.
fn is_utc_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let num =
        |r: std::ops::Range<usize>| s.get(r).and_then(|d| d.parse::<u32>().ok()).unwrap_or(99);
    b.len() == 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'Z'
        && (1..=12).contains(&num(5..7))
        && (1..=31).contains(&num(8..10))
        && num(11..13) < 24
        && num(14..16) < 60
        && num(17..19) < 60
}

fn validate(a: &AccountRecord) -> Vec<String> {
    let mut p = Vec::new();
    let n = &a.account_number;
    if n.is_empty() || n.len() > 34 || !n.bytes().all(|b| b.is_ascii_digit()) {
        p.push(format!("account {n:?}: the number must be 1 to 34 digits"));
    }
    if !shared::validate::is_customer_id(&a.customer_id) {
        p.push(format!(
            "account {n}: customer_id must be 1 to 32 letters or digits"
        ));
    }
    if a.customer_name.trim().is_empty() || a.customer_name.len() > 150 {
        p.push(format!(
            "account {n}: customer_name must be 1 to 150 characters"
        ));
    }
    if a.currency.len() != 3 || !a.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        p.push(format!(
            "account {n}: currency must be an ISO 4217 code such as UGX"
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for l in &a.loans {
        if l.loan_id.is_empty()
            || l.loan_id.len() > 32
            || !l.loan_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            p.push(format!(
                "account {n}: loan id {:?} must be 1 to 32 letters or digits",
                l.loan_id
            ));
        }
        if !seen.insert(&l.loan_id) {
            p.push(format!("account {n}: loan {} appears twice", l.loan_id));
        }
        if !is_utc_timestamp(&l.disbursement_date) {
            p.push(format!(
                "loan {}: disbursement_date must look like 2023-02-16T12:24:54Z",
                l.loan_id
            ));
        }
        if l.principal < 0 || l.outstanding_amount < 0 || l.outstanding_amount > l.principal {
            p.push(format!(
                "loan {}: amounts must satisfy 0 <= outstanding_amount <= principal",
                l.loan_id
            ));
        }
    }
    p
}

/// Writes validated records; returns (accounts, loans) written.
pub async fn import(ctx: &Ctx, records: &[AccountRecord]) -> Result<(usize, usize), String> {
    let mut loans = 0;
    for r in records {
        let account = Account {
            account_number: r.account_number.clone(),
            customer_id: r.customer_id.clone(),
            customer_name: r.customer_name.trim().to_string(),
            balance: r.balance,
            currency: r.currency.clone(),
        };
        ctx.store
            .put_account(&account)
            .await
            .map_err(|e| e.to_string())?;
        for l in &r.loans {
            ctx.store
                .put_loan(&r.account_number, l)
                .await
                .map_err(|e| e.to_string())?;
            loans += 1;
        }
    }
    Ok((records.len(), loans))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "account_number,customer_id,customer_name,balance,currency,loan_id,disbursement_date,principal,outstanding_amount
6000000001,C100,\"Okot, Daniel\",1000,UGX,L100001,2024-05-01T08:00:00Z,500000,200000
6000000001,C100,\"Okot, Daniel\",1000,UGX,L100002,2024-06-01T08:00:00Z,100000,0
6000000002,C101,Amina N,0,,,,,
";

    #[test]
    fn csv_rows_group_into_accounts_with_loans() {
        let records = parse("accounts.csv", CSV).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].customer_name, "Okot, Daniel");
        assert_eq!(records[0].loans.len(), 2);
        assert!(records[1].loans.is_empty());
        assert_eq!(records[1].currency, "UGX");
    }

    #[test]
    fn json_and_its_validation() {
        let ok = r#"{"accounts":[{"account_number":"6000000003","customer_id":"C102","customer_name":"X","loans":[
            {"loan_id":"L1","disbursement_date":"2023-02-16T12:24:54Z","principal":10,"outstanding_amount":5}]}]}"#;
        assert_eq!(parse("a.json", ok).unwrap()[0].loans.len(), 1);
        let bad = r#"{"accounts":[{"account_number":"60-01","customer_id":"C 1","customer_name":"","loans":[
            {"loan_id":"L1","disbursement_date":"yesterday","principal":10,"outstanding_amount":50},
            {"loan_id":"L1","disbursement_date":"2023-13-16T12:24:54Z","principal":10,"outstanding_amount":5}]}]}"#;
        let problems = parse("a.json", bad).unwrap_err();
        assert_eq!(problems.len(), 7, "{problems:#?}");
        assert!(parse(
            "a.json",
            r#"{"accounts":[{"account_number":"1","extra":1}]}"#
        )
        .is_err());
        assert!(parse("a.xml", "<a/>").is_err());
    }

    #[test]
    fn a_loan_row_without_its_amounts_is_named_by_line() {
        let text = "account_number,customer_id,customer_name,loan_id\n6000000001,C100,Okot,L1\n";
        let problems = parse("a.csv", text).unwrap_err();
        assert!(problems[0].starts_with("line 2:"), "{problems:?}");
    }
}
