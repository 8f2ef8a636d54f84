//! [`UserStore`] on DynamoDB: the user's profile item with its `gsi1` group, the username,
//! e-mail and customer-id claims written with it in one transaction, and `migrate_users` for
//! items of the previous layout.
//!
//! A username is claimed under its confusable skeleton (`USERNAME#<username_key>`). Claims of
//! the previous design, under the lower-cased name, stay until `migrate_users` moves them, and
//! for good where it finds the skeleton taken by a look-alike (a collision it reports): so an
//! account may hold either key, and every write here copes with both.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem};

use super::{
    conditional, from_item, keyed, n, number, put, query_all, s, sdk_err, string, to_item,
    DynamoStore, Item,
};
use crate::model::{unique_key, username_key, NewUser, User, UserType};
use crate::store::{Collision, Migration, StoreError, Taken, Update, UserStore};

/// The claim of `username` under its skeleton key.
fn username_claim(username: &str) -> String {
    format!("USERNAME#{}", username_key(username))
}

/// The claim of `username` under the previous design's key, where that differs from the
/// skeleton key (a key that is not its own skeleton is never a skeleton key).
fn previous_username_claim(username: &str) -> Option<String> {
    let (old, new) = (unique_key(username), username_key(username));
    (old != new).then(|| format!("USERNAME#{old}"))
}

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

/// The transactional delete of the claim `pk` if it is user `id`'s; one that is gone is fine.
fn release_if_ours(table: &str, pk: String, id: u64) -> Result<TransactWriteItem, StoreError> {
    let release = Delete::builder()
        .table_name(table)
        .key("pk", s(pk))
        .key("sk", s("CLAIM"))
        .condition_expression("attribute_not_exists(pk) OR user_id = :id")
        .expression_attribute_values(":id", n(id))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(TransactWriteItem::builder().delete(release).build())
}

/// The transactional write of user `id`'s claim `pk`, provided nobody else holds it.
fn claim_if_free_or_ours(
    table: &str,
    pk: String,
    id: u64,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(claim_item(pk, id)))
        .condition_expression("attribute_not_exists(pk) OR user_id = :id")
        .expression_attribute_values(":id", n(id))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// The items of one attempt at `update_user`, with the index of each claim whose failure means
/// `Taken`, and the index of the release of the old name's skeleton claim (see below).
struct UpdateItems {
    items: Vec<TransactWriteItem>,
    moved: Vec<(usize, Taken)>,
    skeleton_release: Option<usize>,
}

/// What became of moving a username claim to its skeleton key.
enum Moved {
    Done,
    /// The skeleton key is held, by this account id.
    Held(u64),
    /// The old claim changed meanwhile: nothing to move.
    Changed,
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

    /// Whether `username` is held under the previous design's key (by an account not yet
    /// migrated, or left there by a collision). New code never writes such a claim, so one
    /// that is absent now cannot appear later: this read needs no transaction.
    async fn previous_claim_held(
        &self,
        username: &str,
        id: Option<u64>,
    ) -> Result<bool, StoreError> {
        let Some(pk) = previous_username_claim(username) else {
            return Ok(false);
        };
        Ok(match self.get(pk, "CLAIM").await? {
            Some(claim) => Some(number(&claim, "user_id")? as u64) != id,
            None => false,
        })
    }

    /// The items of an update from `before` to `next`. `skeleton_held`: whether `before` holds
    /// its name's skeleton claim; when it does not (it kept the previous key), that claim is
    /// another account's and must not be released.
    fn update_items(
        &self,
        before: &User,
        next: &User,
        skeleton_held: bool,
    ) -> Result<UpdateItems, StoreError> {
        let id = next.id;
        let write_user = Put::builder()
            .table_name(&self.table)
            .set_item(Some(user_item(next)?))
            .condition_expression("#rev = :rev")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":rev", n(before.rev))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut items = vec![TransactWriteItem::builder().put(write_user).build()];
        let (mut moved, mut skeleton_release) = (Vec::new(), None);
        // A new name: its skeleton claim must be free (or already ours: a look-alike of the
        // old name), and whichever claim the old name had is released.
        if unique_key(&before.username) != unique_key(&next.username) {
            let (old, new) = (
                username_claim(&before.username),
                username_claim(&next.username),
            );
            moved.push((items.len(), Taken::Username));
            items.push(claim_if_free_or_ours(&self.table, new.clone(), id)?);
            if skeleton_held && old != new {
                skeleton_release = Some(items.len());
                items.push(release(&self.table, old, id)?);
            }
            if let Some(previous) = previous_username_claim(&before.username) {
                items.push(release_if_ours(&self.table, previous, id)?);
            }
        }
        // A new e-mail: the new claim must be free, the old one must still be ours.
        let (old, new) = (unique_key(&before.email), unique_key(&next.email));
        if old != new {
            moved.push((items.len(), Taken::Email));
            items.push(put(
                &self.table,
                claim_item(format!("EMAIL#{new}"), id),
                "attribute_not_exists(pk)",
            )?);
            items.push(release(&self.table, format!("EMAIL#{old}"), id)?);
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
                items.push(link_put(&self.table, next)?);
            }
        }
        Ok(UpdateItems {
            items,
            moved,
            skeleton_release,
        })
    }

    /// The items of `user`'s deletion; `skeleton_held` as in [`Self::update_items`]. Returns
    /// them with the index of the skeleton claim's release.
    fn delete_items(
        &self,
        user: &User,
        skeleton_held: bool,
    ) -> Result<(Vec<TransactWriteItem>, Option<usize>), StoreError> {
        let id = user.id;
        let at = |pk: String, sk: &str| {
            Delete::builder()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
        };
        let built = |d: aws_sdk_dynamodb::types::builders::DeleteBuilder| {
            d.build()
                .map(|d| TransactWriteItem::builder().delete(d).build())
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let mut items = vec![
            built(at(format!("OTP#{id}"), "OTP"))?,
            built(at(format!("OTP#{id}"), "PHONE"))?,
            // A claim only while it is still this user's (another account may hold it by now).
            release_if_ours(
                &self.table,
                format!("EMAIL#{}", unique_key(&user.email)),
                id,
            )?,
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
            items.push(release_if_ours(
                &self.table,
                format!("CUSTOMERID#{}", user.customer_id),
                id,
            )?);
        }
        if let Some(previous) = previous_username_claim(&user.username) {
            items.push(release_if_ours(&self.table, previous, id)?);
        }
        let skeleton_release = skeleton_held.then_some(items.len());
        if skeleton_held {
            items.push(release_if_ours(
                &self.table,
                username_claim(&user.username),
                id,
            )?);
        }
        Ok((items, skeleton_release))
    }

    /// Moves user `id`'s username claim `from` to `to` (its skeleton key), in one transaction.
    async fn move_username_claim(
        &self,
        from: &str,
        to: &str,
        id: u64,
    ) -> Result<Moved, StoreError> {
        let items = vec![
            put(
                &self.table,
                claim_item(to.to_string(), id),
                "attribute_not_exists(pk)",
            )?,
            release(&self.table, from.to_string(), id)?,
        ];
        let Some(failed) = self.transact(items).await? else {
            return Ok(Moved::Done);
        };
        if failed.first() != Some(&true) {
            return Ok(Moved::Changed);
        }
        Ok(match self.get(to.to_string(), "CLAIM").await? {
            Some(claim) => Moved::Held(number(&claim, "user_id")? as u64),
            None => Moved::Changed,
        })
    }

    /// Moves each username claim that is not under its holder's skeleton key, lowest user id
    /// first (`claims`: user id and claim key; `names`: each user's username).
    async fn migrate_username_claims(
        &self,
        mut claims: Vec<(u64, String)>,
        names: &HashMap<u64, String>,
        report: &mut Migration,
    ) -> Result<(), StoreError> {
        claims.sort();
        for (id, pk) in claims {
            // A claim whose account is gone is another matter (none is left by this code).
            let Some(username) = names.get(&id) else {
                continue;
            };
            let target = username_claim(username);
            if pk == target {
                continue;
            }
            match self.move_username_claim(&pk, &target, id).await? {
                Moved::Done => report.rewritten += 1,
                // Written meanwhile (the account renamed or deleted): nothing left to move.
                Moved::Changed => {}
                // Already ours as well (a transaction cannot leave this, a copy by hand could):
                // the old claim just goes.
                Moved::Held(holder) if holder == id => {
                    self.transact(vec![release(&self.table, pk, id)?]).await?;
                    report.rewritten += 1;
                }
                Moved::Held(holder) => report.collisions.push(Collision {
                    user_id: id,
                    username: username.clone(),
                    holder_id: holder,
                    holder_username: names.get(&holder).cloned().unwrap_or_default(),
                }),
            }
        }
        Ok(())
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
        let next_id = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s("SEQ"))
            .key("sk", s("USER"))
            .update_expression("ADD #v :one")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send();
        // Side by side, so the look-up of a claim of the previous design adds no round trip.
        let (seq, previous_held) =
            tokio::join!(next_id, self.previous_claim_held(&new.username, None));
        let seq = seq.map_err(|e| sdk_err("UpdateItem", e))?;
        if previous_held? {
            return Ok(Err(Taken::Username));
        }
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
                claim_item(username_claim(&user.username), id),
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
        let holder = self.user_by_claim(username_claim(username)).await?;
        if holder
            .as_ref()
            .is_some_and(|u| unique_key(&u.username) == unique_key(username))
        {
            return Ok(holder);
        }
        // Not this very name: an account of exactly this name may hold the previous key.
        if let Some(previous) = previous_username_claim(username) {
            if let Some(exact) = self.user_by_claim(previous).await? {
                return Ok(Some(exact));
            }
        }
        Ok(holder)
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
        let renamed = unique_key(&before.username) != unique_key(&next.username);
        if renamed
            && self
                .previous_claim_held(&next.username, Some(next.id))
                .await?
        {
            return Ok(Update::Taken(Taken::Username));
        }
        // First as most accounts are, holding their skeleton claim; if that claim turns out to
        // be another's, once more without releasing it.
        for skeleton_held in [true, false] {
            let attempt = self.update_items(before, &next, skeleton_held)?;
            let Some(failed) = self.transact(attempt.items).await? else {
                return Ok(Update::Done);
            };
            let failed_at = |i: usize| failed.get(i) == Some(&true);
            if let Some((_, taken)) = attempt.moved.iter().find(|(i, _)| failed_at(*i)) {
                return Ok(Update::Taken(*taken));
            }
            if failed_at(0) || !attempt.skeleton_release.is_some_and(failed_at) {
                break;
            }
        }
        Ok(Update::Stale)
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
        // As in `update_user`: the skeleton claim may be another account's.
        for skeleton_held in [true, false] {
            let (items, skeleton_release) = self.delete_items(user, skeleton_held)?;
            let Some(failed) = self.transact(items).await? else {
                return Ok(Update::Done);
            };
            let only_the_skeleton = skeleton_release.is_some_and(|i| failed.get(i) == Some(&true))
                && failed.iter().filter(|f| **f).count() == 1;
            if !only_the_skeleton {
                break;
            }
        }
        Ok(Update::Stale)
    }

    async fn migrate_users(&self) -> Result<Migration, StoreError> {
        let mut report = Migration::default();
        // Username claims wait for the whole scan: each needs its holder's name, and the lowest
        // ids go first. (Held in memory: some tens of bytes per user.)
        let (mut names, mut username_claims) = (HashMap::new(), Vec::new());
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(
                    "sk = :profile OR (sk = :claim AND (begins_with(pk, :link) OR begins_with(pk, :name)))",
                )
                .expression_attribute_values(":profile", s("PROFILE"))
                .expression_attribute_values(":claim", s("CLAIM"))
                .expression_attribute_values(":link", s("CUSTOMERID#"))
                .expression_attribute_values(":name", s("USERNAME#"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_err("Scan", e))?;
            for item in page.items.unwrap_or_default() {
                let pk = string(&item, "pk")?;
                if string(&item, "sk")? == "PROFILE" {
                    names.insert(number(&item, "id")? as u64, string(&item, "username")?);
                    if !item.contains_key("gsi1pk") {
                        self.reindex(from_item(item)?).await?;
                        report.rewritten += 1;
                    }
                } else if pk.starts_with("USERNAME#") {
                    username_claims.push((number(&item, "user_id")? as u64, pk));
                } else if !item.contains_key("bound") {
                    self.settle_old_claim(item).await?;
                    report.rewritten += 1;
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        self.migrate_username_claims(username_claims, &names, &mut report)
            .await?;
        Ok(report)
    }
}
