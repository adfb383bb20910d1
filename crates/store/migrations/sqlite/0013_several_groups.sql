-- A device may be in several groups. `group_name` stays its first group (it wins, and alone
-- decides the group settings that are not item values); `other_groups` lists the rest in
-- precedence order, comma-separated (a group name cannot hold a comma), '' for none.
ALTER TABLE devices ADD COLUMN other_groups TEXT NOT NULL DEFAULT '';
ALTER TABLE provisioned_devices ADD COLUMN other_groups TEXT NOT NULL DEFAULT '';
