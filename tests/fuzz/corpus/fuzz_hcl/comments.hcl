# c
// c
/* c
*/
env x { url = "\u00e9\t\"\\" }
lint {
}
