//! [`AccountStore`] on DynamoDB: an account and its loans share the partition
//! `ACCOUNT#<n>` (one `Query` reads both); `gsi1` finds a customer's accounts.

use async_trait::async_trait;

use super::{from_item, keyed, query_all, s, string, to_item, DynamoStore};
use crate::model::{Account, AccountWithLoans, Loan};
use crate::store::{AccountStore, StoreError};

#[async_trait]
impl AccountStore for DynamoStore {
    async fn put_account(&self, a: &Account) -> Result<(), StoreError> {
        let mut item = keyed(
            format!("ACCOUNT#{}", a.account_number),
            "ACCOUNT",
            to_item(a)?,
        );
        item.insert("gsi1pk".into(), s(format!("CUSTOMER#{}", a.customer_id)));
        item.insert("gsi1sk".into(), s(format!("ACCOUNT#{}", a.account_number)));
        self.put_item(item).await
    }

    async fn put_loan(&self, account_number: &str, loan: &Loan) -> Result<(), StoreError> {
        let item = keyed(
            format!("ACCOUNT#{account_number}"),
            &format!("LOAN#{}", loan.loan_id),
            to_item(loan)?,
        );
        self.put_item(item).await
    }

    async fn account_with_loans(
        &self,
        number: &str,
    ) -> Result<Option<AccountWithLoans>, StoreError> {
        let partition = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("ACCOUNT#{number}")))
            .consistent_read(true);
        let mut account = None;
        let mut loans = Vec::new();
        for item in query_all(partition).await? {
            let sk = string(&item, "sk")?;
            if sk == "ACCOUNT" {
                account = Some(from_item::<Account>(item)?);
            } else if sk.starts_with("LOAN#") {
                loans.push(from_item::<Loan>(item)?);
            }
        }
        Ok(account.map(|account| AccountWithLoans { account, loans }))
    }

    async fn accounts_of_customer(&self, customer_id: &str) -> Result<Vec<Account>, StoreError> {
        let index = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :prefix)")
            .expression_attribute_values(":pk", s(format!("CUSTOMER#{customer_id}")))
            .expression_attribute_values(":prefix", s("ACCOUNT#"));
        let mut accounts = query_all(index)
            .await?
            .into_iter()
            .map(from_item::<Account>)
            .collect::<Result<Vec<_>, _>>()?;
        accounts.sort_by(|a, b| a.account_number.cmp(&b.account_number));
        Ok(accounts)
    }
}
