"""One patrol (one member, one local date, the member's grid): measured, flagged and credited."""
