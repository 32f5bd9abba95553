use super::*;

#[test]
fn shards_split_sources_exactly_once() {
    let names: Vec<String> = (0..200).map(|i| format!("vault-{i}")).collect();
    for count in 1..6 {
        for name in &names {
            let owners = (0..count)
                .filter(|&index| Shard { index, count }.owns(name))
                .count();
            assert_eq!(owners, 1, "{name} in {count} shards");
        }
    }
    assert_eq!(Shard::parse("1/3").unwrap(), Shard { index: 1, count: 3 });
    assert!(Shard::parse("3/3").is_err());
    assert!(Shard::parse("0/0").is_err());
    assert!(Shard::parse("x").is_err());
}
