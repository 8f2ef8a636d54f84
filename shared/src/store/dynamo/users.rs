//! [`UserStore`] on DynamoDB: the user's profile item with its `gsi1` group, the username,
//! e-mail and customer-id claims written with it in one transaction, and `migrate_users` for
//! items of the previous layout.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem};

use super::{
    conditional, from_item, keyed, n, number, put, query_all, s, sdk_err, string, to_item,
    DynamoStore, Item,
};
use crate::model::{unique_key, NewUser, User, UserType};
use crate::store::{StoreError, Taken, Update, UserStore};

/// A user's item: the profile, and in `gsi1` the group it is found in: the claimants of its
/// customer id (customers), or its role (everyone else; how the last Fintract admin is kept).
fn user_item(user: &User) -> Result<Item, StoreError> {
    let mut item = keyed(format!("USER#{}", user.id), "PROFILE", to_item(user)?);
    let group = match user.user_type {
        UserType::Customer => format!("CLAIMANTS#{}", user.customer_id),
        staff => format!("ROLE#{}", staff.as_str()),
    };
    item.insert("gsi1pk".into(), s(group));
    item.insert("gsi1sk".into(), s(format!("USER#{:020}", user.id)));
    Ok(item)
}

/// The item that binds a bank customer id to one account (written on approval).
fn customer_link(user: &User) -> Item {
    keyed(
        format!("CUSTOMERID#{}", user.customer_id),
        "CLAIM",
        HashMap::from([
            ("user_id".to_string(), n(user.id)),
            ("bound".to_string(), AttributeValue::Bool(true)),
        ]),
    )
}

/// A username or e-mail claim, `pk`, held by user `id` (written with the user, in one
/// transaction).
fn claim_item(pk: String, id: u64) -> Item {
    keyed(pk, "CLAIM", HashMap::from([("user_id".to_string(), n(id))]))
}

/// The transactional delete of the claim `pk`, provided it is still user `id`'s.
fn release(table: &str, pk: String, id: u64) -> Result<TransactWriteItem, StoreError> {
    let release = Delete::builder()
        .table_name(table)
        .key("pk", s(pk))
        .key("sk", s("CLAIM"))
        .condition_expression("user_id = :id")
        .expression_attribute_values(":id", n(id))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(TransactWriteItem::builder().delete(release).build())
}

/// A link may be written where there is none or where it is this user's. (Claim items of the
/// previous layout, written at registration, are settled by `migrate_users`.)
const LINK_FREE: &str = "attribute_not_exists(pk) OR user_id = :id";

/// The conditional write that binds `user`'s customer id to it.
fn link_put(table: &str, user: &User) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(customer_link(user)))
        .condition_expression(LINK_FREE)
        .expression_attribute_values(":id", n(user.id))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl DynamoStore {
    async fn user_by_claim(&self, claim_pk: String) -> Result<Option<User>, StoreError> {
        let Some(claim) = self.get(claim_pk, "CLAIM").await? else {
            return Ok(None);
        };
        let id = number(&claim, "user_id")?;
        self.user(id as u64).await
    }

    /// Writes a user item of the previous layout again with its `gsi1` group, as it was read.
    async fn reindex(&self, user: User) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(user_item(&user)?))
            .condition_expression("#rev = :rev")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":rev", n(user.rev))
            .send()
            .await;
        // A failed condition: written meanwhile by the current code, with its group.
        conditional(result, "PutItem").map(drop)
    }

    /// A customer-id claim of the previous layout, written at registration for every account:
    /// it stays (marked bound) only where it is an approved customer's link, else it goes.
    async fn settle_old_claim(&self, claim: Item) -> Result<(), StoreError> {
        let pk = string(&claim, "pk")?;
        let holder = self.user(number(&claim, "user_id")? as u64).await?;
        let binds = holder.is_some_and(|u| {
            u.holds_customer_link() && pk == format!("CUSTOMERID#{}", u.customer_id)
        });
        if binds {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s("CLAIM"))
                .update_expression("SET bound = :yes")
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .send()
                .await
                .map_err(|e| sdk_err("UpdateItem", e))?;
        } else {
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s("CLAIM"))
                .condition_expression("attribute_not_exists(bound)")
                .send()
                .await;
            // A failed condition: bound meanwhile by the current code, so it stays.
            conditional(deleted, "DeleteItem")?;
        }
        Ok(())
    }

    /// The users of one `gsi1` group, by id.
    async fn users_in_group(&self, group: String) -> Result<Vec<User>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :user)")
            .expression_attribute_values(":pk", s(group))
            .expression_attribute_values(":user", s("USER#"));
        query_all(query).await?.into_iter().map(from_item).collect()
    }
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn create_user(&self, new: NewUser) -> Result<Result<User, Taken>, StoreError> {
        let seq = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s("SEQ"))
            .key("sk", s("USER"))
            .update_expression("ADD #v :one")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_err("UpdateItem", e))?;
        let id = seq
            .attributes
            .as_ref()
            .map(|a| number(a, "value"))
            .transpose()?
            .unwrap_or(0) as u64;
        let user = new.into_user(id);
        let absent = "attribute_not_exists(pk)";
        let mut items = vec![
            put(&self.table, user_item(&user)?, absent)?,
            put(
                &self.table,
                claim_item(format!("USERNAME#{}", unique_key(&user.username)), id),
                absent,
            )?,
            put(
                &self.table,
                claim_item(format!("EMAIL#{}", unique_key(&user.email)), id),
                absent,
            )?,
        ];
        if user.holds_customer_link() {
            items.push(link_put(&self.table, &user)?);
        }
        let Some(failed) = self.transact(items).await? else {
            return Ok(Ok(user));
        };
        if failed.get(1) == Some(&true) {
            Ok(Err(Taken::Username))
        } else if failed.get(2) == Some(&true) {
            Ok(Err(Taken::Email))
        } else if failed.get(3) == Some(&true) {
            Ok(Err(Taken::CustomerId))
        } else if failed.first() == Some(&true) {
            Err(StoreError::Unavailable(format!(
                "user id {id} already exists"
            )))
        } else {
            Err(StoreError::Unavailable("user transaction cancelled".into()))
        }
    }

    async fn user(&self, id: u64) -> Result<Option<User>, StoreError> {
        self.get(format!("USER#{id}"), "PROFILE")
            .await?
            .map(from_item)
            .transpose()
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.user_by_claim(format!("USERNAME#{}", unique_key(username)))
            .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.user_by_claim(format!("EMAIL#{}", unique_key(email)))
            .await
    }

    async fn user_by_customer_id(&self, customer_id: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .user_by_claim(format!("CUSTOMERID#{customer_id}"))
            .await?
            .filter(|u| u.holds_customer_link() && u.customer_id == customer_id))
    }

    async fn claimants(&self, customer_id: &str) -> Result<Vec<User>, StoreError> {
        self.users_in_group(format!("CLAIMANTS#{customer_id}"))
            .await
    }

    async fn staff_of_type(&self, user_type: UserType) -> Result<Vec<User>, StoreError> {
        self.users_in_group(format!("ROLE#{}", user_type.as_str()))
            .await
    }

    async fn update_user(&self, before: &User, after: &User) -> Result<Update, StoreError> {
        let mut next = after.clone();
        next.rev = before.rev + 1;
        let id = next.id;
        let write_user = Put::builder()
            .table_name(&self.table)
            .set_item(Some(user_item(&next)?))
            .condition_expression("#rev = :rev")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":rev", n(before.rev))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut items = vec![TransactWriteItem::builder().put(write_user).build()];
        // Each moved claim: the new one must be free, the old one must still be ours.
        let mut moved = Vec::new();
        for (taken, prefix, old, new) in [
            (
                Taken::Username,
                "USERNAME",
                &before.username,
                &next.username,
            ),
            (Taken::Email, "EMAIL", &before.email, &next.email),
        ] {
            let (old, new) = (unique_key(old), unique_key(new));
            if old == new {
                continue;
            }
            let claim = claim_item(format!("{prefix}#{new}"), id);
            moved.push((items.len(), taken));
            items.push(put(&self.table, claim, "attribute_not_exists(pk)")?);
            items.push(release(&self.table, format!("{prefix}#{old}"), id)?);
        }
        // The customer link follows approval (and the customer id it is for).
        let (old_link, new_link) = (
            before.holds_customer_link().then_some(&before.customer_id),
            next.holds_customer_link().then_some(&next.customer_id),
        );
        if old_link != new_link {
            if let Some(old) = old_link {
                items.push(release(&self.table, format!("CUSTOMERID#{old}"), id)?);
            }
            if new_link.is_some() {
                moved.push((items.len(), Taken::CustomerId));
                items.push(link_put(&self.table, &next)?);
            }
        }
        let Some(failed) = self.transact(items).await? else {
            return Ok(Update::Done);
        };
        Ok(moved
            .iter()
            .find(|(i, _)| failed.get(*i) == Some(&true))
            .map(|(_, taken)| Update::Taken(*taken))
            .unwrap_or(Update::Stale))
    }

    async fn delete_user(&self, user: &User) -> Result<Update, StoreError> {
        let id = user.id;
        // Tokens and links first: if this fails half-way, the user is still there to retry with.
        let owned = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(format!("USERTOKENS#{id}")));
        for item in query_all(owned).await? {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(string(&item, "pk")?))
                .key("sk", s(string(&item, "sk")?))
                .send()
                .await
                .map_err(|e| sdk_err("DeleteItem", e))?;
        }
        let built = |d: aws_sdk_dynamodb::types::builders::DeleteBuilder| {
            d.build()
                .map(|d| TransactWriteItem::builder().delete(d).build())
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let at = |pk: String, sk: &str| {
            Delete::builder()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
        };
        // A claim only while it is still this user's (another account may hold it by now).
        let ours = |pk: String| {
            built(
                at(pk, "CLAIM")
                    .condition_expression("attribute_not_exists(pk) OR user_id = :id")
                    .expression_attribute_values(":id", n(id)),
            )
        };
        let mut items = vec![
            built(at(format!("OTP#{id}"), "OTP"))?,
            ours(format!("USERNAME#{}", unique_key(&user.username)))?,
            ours(format!("EMAIL#{}", unique_key(&user.email)))?,
            // Only as it was read: an approval or a verification meanwhile makes this Stale.
            built(
                at(format!("USER#{id}"), "PROFILE")
                    .condition_expression("#rev = :rev")
                    .expression_attribute_names("#rev", "rev")
                    .expression_attribute_values(":rev", n(user.rev)),
            )?,
        ];
        // A claim that was never approved binds nothing to release.
        if user.holds_customer_link() {
            items.push(ours(format!("CUSTOMERID#{}", user.customer_id))?);
        }
        Ok(match self.transact(items).await? {
            None => Update::Done,
            Some(_) => Update::Stale,
        })
    }

    async fn migrate_users(&self) -> Result<usize, StoreError> {
        let mut rewritten = 0;
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :profile OR (sk = :claim AND begins_with(pk, :link))")
                .expression_attribute_values(":profile", s("PROFILE"))
                .expression_attribute_values(":claim", s("CLAIM"))
                .expression_attribute_values(":link", s("CUSTOMERID#"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_err("Scan", e))?;
            for item in page.items.unwrap_or_default() {
                if string(&item, "sk")? == "PROFILE" {
                    if !item.contains_key("gsi1pk") {
                        self.reindex(from_item(item)?).await?;
                        rewritten += 1;
                    }
                } else if !item.contains_key("bound") {
                    self.settle_old_claim(item).await?;
                    rewritten += 1;
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(rewritten);
            }
        }
    }
}
