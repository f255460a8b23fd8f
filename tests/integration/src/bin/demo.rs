//! The local demo's last step: connects a person through the stack deployed to the local
//! emulator and prints the contact that landed in the SAP sandbox.
//! Run by `tests/local/demo.sh`, which starts and deploys everything first.

use fitbridge_integration::{deployed, stack};

#[tokio::main]
async fn main() {
    let stack = stack();
    println!(
        "Connecting a sandbox person through the deployed stack ({})",
        stack["stackName"]
    );
    let done = deployed::connect_person(&stack, "Alex", "Sandbox", "CUST-0001").await;
    println!("  Fitbit user      {}", done.user_id);
    println!("  callback page    HTTP {}", done.status);
    let Some(contact) = done.contact else {
        eprintln!(
            "No contact landed in the SAP sandbox. Callback page:\n{}",
            done.page
        );
        std::process::exit(1);
    };
    println!("\nContact stored in the SAP Marketing Cloud sandbox:");
    println!("{}", serde_json::to_string_pretty(&contact).unwrap());
}
