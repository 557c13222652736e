package btcclient

/*
#include <btcclient.h>
*/
import "C"

import "runtime"

// AddressBookStats is a snapshot of a client's address book (AddressBook).
type AddressBookStats struct {
	// New is the number of addresses in the "new" table (heard of, not yet connected to).
	New int
	// Tried is the number of addresses in the "tried" table (connected to at least once).
	Tried int
	// Groups are the network groups the addresses fall in, in the library's order.
	Groups []GroupCount
}

// GroupCount is one network group of the address book and how many of its addresses each
// table holds.
type GroupCount struct {
	// Group is the group's name: "1.2.0.0/16", "2001:db8::/32", "onion/3".
	Group string
	New   int
	Tried int
}

// AddressBook returns a snapshot of the client's address book: the sizes of its new and
// tried tables and its network groups. It works before Start and after Stop too.
// ErrClientClosed after Close.
func (b *BtcClient) AddressBook() (AddressBookStats, error) {
	defer runtime.KeepAlive(b)
	c := b.c
	if !c.acquire() {
		return AddressBookStats{}, ErrClientClosed
	}
	defer c.release()
	var book *C.btcclient_address_book
	var cerr *C.btcclient_error
	if err := call(C.btcclient_client_address_book(c.ptr, &book, &cerr), cerr); err != nil {
		return AddressBookStats{}, err
	}
	defer C.btcclient_address_book_free(book)
	s := AddressBookStats{
		New:   int(C.btcclient_address_book_new_count(book)),
		Tried: int(C.btcclient_address_book_tried_count(book)),
	}
	n := int(C.btcclient_address_book_group_count(book))
	s.Groups = make([]GroupCount, 0, n)
	for i := 0; i < n; i++ {
		var group *C.char
		var newCount, triedCount C.size_t
		if err := call(C.btcclient_address_book_group(book, C.size_t(i), &group, &newCount, &triedCount), nil); err != nil {
			return AddressBookStats{}, err
		}
		s.Groups = append(s.Groups, GroupCount{Group: C.GoString(group), New: int(newCount), Tried: int(triedCount)})
	}
	return s, nil
}

// ImportPeersDat adds the addresses of a Bitcoin Core peers.dat (the file a node keeps in
// its data directory; every format Core 29 reads, checksum verified) to the client's address
// book and returns how many were added. It works before Start too: Start loads the book
// file (WithAddressBookPath) and keeps the imported addresses beside what it holds.
//
// Errors: ErrPeersDat when the file cannot be read, is truncated, has a bad checksum,
// belongs to another network or has a newer format (the message names the problem and the
// path); ErrInvalidArgument for a path with a NUL byte or not valid UTF-8; ErrClientClosed
// after Close.
func (b *BtcClient) ImportPeersDat(path string) (int, error) {
	defer runtime.KeepAlive(b)
	c := b.c
	if !c.acquire() {
		return 0, ErrClientClosed
	}
	defer c.release()
	p, err := cstring("path", path)
	if err != nil {
		return 0, err
	}
	var added C.size_t
	var cerr *C.btcclient_error
	if err := call(C.btcclient_client_import_peers_dat(c.ptr, cptr(p), &added, &cerr), cerr); err != nil {
		return 0, err
	}
	return int(added), nil
}
