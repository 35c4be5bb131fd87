/* placeholder: being written */
extern int kmes_placeholder_keyblob;
