//! The acceptance suite, one binary. Every test in a backend module runs twice:
//! `…::embedded::…` on SQLite, `…::aws::…` on DynamoDB in moto_server.

mod assurance;
mod authenticator;
mod boot;
mod browser;
mod channels;
mod claims;
mod concurrency;
mod contract;
mod counting;
mod dashboard;
mod deploy;
mod faults;
mod hygiene_files;
mod hygiene_mail;
mod hygiene_names;
mod keys;
mod loans;
mod local_tools;
mod login;
mod profile;
mod recovery;
mod refresh;
mod register;
mod roles;
mod sessions;
mod signin;
mod store_contract;
mod template;
mod token;
mod uploads;
