/* placeholder: being written */
extern int kmes_placeholder_crypto_ossl;
