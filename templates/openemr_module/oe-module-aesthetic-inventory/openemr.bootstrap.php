<?php

/**
 * Aesthetic Inventory custom module: adds "Aesthetic Inventory" to OpenEMR's Modules menu.
 *
 * OpenEMR's ModulesApplication loads this file for an enabled custom module with
 * $eventDispatcher in scope. The listener only appends one menu item and never throws,
 * so a problem here cannot break OpenEMR's menu.
 */

use OpenEMR\Menu\MenuEvent;

if (isset($eventDispatcher) && class_exists(MenuEvent::class)) {
    $eventDispatcher->addListener(MenuEvent::MENU_UPDATE, function (MenuEvent $event): MenuEvent {
        try {
            $menu = $event->getMenu();
            $item = new \stdClass();
            $item->requirement = 0;
            $item->target = 'mod';
            $item->menu_id = 'aesthinv0';
            $item->label = function_exists('xlt') ? xlt('Aesthetic Inventory') : 'Aesthetic Inventory';
            $item->url = '/interface/modules/custom_modules/oe-module-aesthetic-inventory/public/launch.php';
            $item->children = [];
            // The Python side checks OpenEMR's ACL on every request; the menu shows the
            // item to everyone who may code encounters or use inventory.
            $item->acl_req = [];
            $item->global_req = [];
            $placed = false;
            foreach ($menu as $entry) {
                if (isset($entry->menu_id) && $entry->menu_id === 'modimg') {
                    $entry->children[] = $item;
                    $placed = true;
                    break;
                }
            }
            if (!$placed) {
                $menu[] = $item;
            }
            $event->setMenu($menu);
        } catch (\Throwable $e) {
            error_log('aesthetic inventory menu: ' . $e->getMessage());
        }
        return $event;
    });
}
