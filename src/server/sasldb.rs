//! Read a Cyrus SASL `sasldb2` file, as `saslpasswd2 -c -u REALM USER` writes
//! it: Debian's libsasl2 keeps it in a Berkeley DB 5 hash database. Keys are
//! `user \0 realm \0 property`, the data the property's value; the property
//! ferrocache reads is `userPassword` (the plain-text secret that PLAIN,
//! CRAM-MD5 and SCRAM need).
//!
//! Only what such a small file uses is read: the hash meta page (page 0,
//! for the page size) and leaf pages of plain key/data items. Items stored
//! off-page (values over a quarter page) and other page types are skipped.

/// One user found in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user: Vec<u8>,
    pub realm: Vec<u8>,
    pub password: Vec<u8>,
}

/// Berkeley DB's magic number of a hash database (its meta page).
const HASH_MAGIC: u32 = 0x0006_1561;
/// Page types holding key/data items (`P_HASH_UNSORTED`, `P_HASH`).
const P_HASH_UNSORTED: u8 = 2;
const P_HASH: u8 = 13;
/// An item stored in the page itself (`H_KEYDATA`).
const H_KEYDATA: u8 = 1;
/// The generic page header: lsn, pgno, prev, next, entries, hf_offset,
/// level, type.
const PAGE_HEADER: usize = 26;

fn u16_at(b: &[u8], at: usize, swap: bool) -> Option<u16> {
    let v = u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?);
    Some(if swap { v.swap_bytes() } else { v })
}

fn u32_at(b: &[u8], at: usize, swap: bool) -> Option<u32> {
    let v = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?);
    Some(if swap { v.swap_bytes() } else { v })
}

/// The users of a sasldb2 file's bytes; an error if it is not a Berkeley
/// DB hash file.
pub fn parse(db: &[u8]) -> Result<Vec<User>, String> {
    let magic = u32_at(db, 12, false).ok_or("too short for a Berkeley DB file")?;
    // The file is in the byte order of the machine that wrote it.
    let swap = match magic {
        HASH_MAGIC => false,
        m if m.swap_bytes() == HASH_MAGIC => true,
        _ => return Err("not a Berkeley DB hash file".into()),
    };
    let page_size = u32_at(db, 20, swap).ok_or("no page size")? as usize;
    if !(512..=65536).contains(&page_size) {
        return Err(format!("page size {page_size} out of range"));
    }
    let mut users = Vec::new();
    for page in db.chunks_exact(page_size).skip(1) {
        if !matches!(page[25], P_HASH | P_HASH_UNSORTED) {
            continue;
        }
        let entries = u16_at(page, 20, swap).unwrap_or(0) as usize;
        let mut offsets = Vec::with_capacity(entries);
        for i in 0..entries {
            match u16_at(page, PAGE_HEADER + 2 * i, swap) {
                Some(o) => offsets.push(o as usize),
                None => break,
            }
        }
        // Items grow down from the end of the page: item i ends where item
        // i-1 starts. Keys and data alternate.
        let item = |i: usize| -> Option<&[u8]> {
            let start = offsets[i];
            let end = if i == 0 { page_size } else { offsets[i - 1] };
            let bytes = page.get(start..end)?;
            (bytes.first() == Some(&H_KEYDATA)).then(|| &bytes[1..])
        };
        for pair in 0..offsets.len() / 2 {
            let (Some(key), Some(data)) = (item(2 * pair), item(2 * pair + 1)) else {
                continue;
            };
            let mut parts = key.split(|&b| b == 0);
            let (Some(user), Some(realm), Some(prop)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if prop == b"userPassword" {
                users.push(User {
                    user: user.to_vec(),
                    realm: realm.to_vec(),
                    password: data.to_vec(),
                });
            }
        }
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash page with these key/data items, laid out as Berkeley DB does.
    fn page(size: usize, kind: u8, items: &[&[u8]]) -> Vec<u8> {
        let mut p = vec![0u8; size];
        p[20..22].copy_from_slice(&(items.len() as u16).to_le_bytes());
        p[25] = kind;
        let mut end = size;
        for (i, it) in items.iter().enumerate() {
            let start = end - it.len() - 1;
            p[start] = H_KEYDATA;
            p[start + 1..end].copy_from_slice(it);
            let at = PAGE_HEADER + 2 * i;
            p[at..at + 2].copy_from_slice(&(start as u16).to_le_bytes());
            end = start;
        }
        p
    }

    #[test]
    fn reads_users_from_hash_pages() {
        let size = 512;
        let mut db = vec![0u8; size];
        db[12..16].copy_from_slice(&HASH_MAGIC.to_le_bytes());
        db[20..24].copy_from_slice(&(size as u32).to_le_bytes());
        db.extend(page(size, 0, &[]));
        db.extend(page(
            size,
            P_HASH,
            &[
                b"testuser\0memcached.realm\0userPassword",
                b"testpass",
                b"bob\0vm\0cmusaslsecretPLAIN",
                b"ignored",
            ],
        ));
        let users = parse(&db).unwrap();
        assert_eq!(
            users,
            vec![User {
                user: b"testuser".to_vec(),
                realm: b"memcached.realm".to_vec(),
                password: b"testpass".to_vec(),
            }]
        );
    }

    #[test]
    fn refuses_other_files() {
        assert!(parse(b"alice:pw\n").is_err());
        assert!(parse(&[0u8; 4096]).is_err());
    }
}
