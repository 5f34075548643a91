/* routes.h — the one route table (routes.c). Each handler is declared in the header
 * of the routes_*.c file that defines it; routes.c includes them all. */
#ifndef INFICOND_ROUTES_H
#define INFICOND_ROUTES_H

#include "router.h"

/* The table, terminated by an entry with method NULL. Static storage. */
const route *routes_table(void);

#endif
