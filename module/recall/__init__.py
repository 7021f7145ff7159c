"""The recall room (issue 19): quarantine a recalled lot, record the recall, list and
message everyone concerned. ``domain`` holds the pure rules, ``repository`` the SQL,
``service`` the transactions, ``documents`` the call list and letters."""
