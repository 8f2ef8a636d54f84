//! [`AccountStore`] on SQLite: the `accounts` and `loans` tables.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::model::{Account, AccountWithLoans, Loan};
use crate::store::{AccountStore, StoreError};

fn account_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        account_number: r.get(0)?,
        customer_id: r.get(1)?,
        customer_name: r.get(2)?,
        balance: r.get(3)?,
        currency: r.get(4)?,
    })
}

const ACCOUNT_COLUMNS: &str = "account_number, customer_id, customer_name, balance, currency";

#[async_trait]
impl AccountStore for SqliteStore {
    async fn put_account(&self, a: &Account) -> Result<(), StoreError> {
        let a = a.clone();
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO accounts (account_number, customer_id, customer_name, balance, currency)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![a.account_number, a.customer_id, a.customer_name, a.balance, a.currency],
            )
            .map(drop)
        })
        .await
    }

    async fn put_loan(&self, account_number: &str, l: &Loan) -> Result<(), StoreError> {
        let (n, l) = (account_number.to_string(), l.clone());
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO loans (account_number, loan_id, disbursement_date, principal, outstanding_amount)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![n, l.loan_id, l.disbursement_date, l.principal, l.outstanding_amount],
            )
            .map(drop)
        })
        .await
    }

    async fn account_with_loans(
        &self,
        number: &str,
    ) -> Result<Option<AccountWithLoans>, StoreError> {
        let number = number.to_string();
        self.with(move |c| {
            let tx = c.transaction()?;
            let Some(account) = tx
                .query_row(
                    &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE account_number = ?1"),
                    [&number],
                    account_from_row,
                )
                .optional()?
            else {
                return Ok(None);
            };
            let mut stmt = tx.prepare_cached(
                "SELECT loan_id, disbursement_date, principal, outstanding_amount
                 FROM loans WHERE account_number = ?1 ORDER BY loan_id",
            )?;
            let loans = stmt
                .query_map([&number], |r| {
                    Ok(Loan {
                        loan_id: r.get(0)?,
                        disbursement_date: r.get(1)?,
                        principal: r.get(2)?,
                        outstanding_amount: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            drop(stmt);
            tx.commit()?;
            Ok(Some(AccountWithLoans { account, loans }))
        })
        .await
    }

    async fn accounts_of_customer(&self, customer_id: &str) -> Result<Vec<Account>, StoreError> {
        let id = customer_id.to_string();
        self.with(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE customer_id = ?1 ORDER BY account_number"
            ))?;
            let rows = stmt.query_map([&id], account_from_row)?;
            rows.collect()
        })
        .await
    }
}
